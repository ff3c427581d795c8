#!/usr/bin/python3
"""An SMTP sink for the notifier's tests (Debian's python3-aiosmtpd).

Listens on 127.0.0.1:<port>, writes every accepted message to <dir>/<n>.eml (the raw bytes as
received, one file per message, so duplicates are visible), prints "ready" once listening, and
runs until killed. A test makes it refuse the next N recipients by writing N to <dir>/fail (and
the reply code, e.g. 451 or 550, to <dir>/fail_code). With --user/--password it requires AUTH.
"""
import argparse
import os
import signal
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    def _take_failure(self):
        path = os.path.join(self.directory, "fail")
        with self.lock:
            if not os.path.exists(path):
                return None
            with open(path) as f:
                left = int(f.read().strip() or "0")
            if left <= 0:
                return None
            with open(path, "w") as f:
                f.write(str(left - 1))
        code_path = os.path.join(self.directory, "fail_code")
        code = open(code_path).read().strip() if os.path.exists(code_path) else "451"
        return code

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = self._take_failure()
        if code is not None:
            return f"{code} sink told to refuse this recipient"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            number = self.count
        path = os.path.join(self.directory, f"{number:06d}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(b"X-Sink-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 Message accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    options = {}
    if args.user:
        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == args.user and auth_data.password.decode() == args.password
            return AuthResult(success=ok)
        options = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False}

    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    print("ready", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
