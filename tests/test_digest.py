import hashlib
import subprocess
import sys

from opusguard.base.digest import hexdigest


def test_hexdigest_is_blake2b_of_the_asked_length():
    assert hexdigest(b"abc") == hashlib.blake2b(b"abc", digest_size=32).hexdigest()
    assert hexdigest(b"abc", 16) == hashlib.blake2b(b"abc", digest_size=8).hexdigest()
    assert len(hexdigest(b"", 5)) == 5


def test_a_warm_check_does_not_load_openssl():
    # The point of digest.py: nothing `check` imports pulls hashlib in.
    code = "import sys, opusguard.run.engine, opusguard.cli.main; print('hashlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
