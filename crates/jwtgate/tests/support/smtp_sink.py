"""A real local SMTP server for the test suite (aiosmtpd): writes every message it receives to
DIR/<n>.eml (atomically) and prints "ready" once it listens. Stops when stdin closes.

Usage: python3 smtp_sink.py PORT DIR
"""
import os
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.directory, f"{self.count}.eml")
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode()
        header = f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {','.join(envelope.rcpt_tos)}\r\n"
        with open(path + ".tmp", "wb") as f:
            f.write(header.encode() + data)
        os.rename(path + ".tmp", path)
        return "250 Message accepted"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
