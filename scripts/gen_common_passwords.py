#!/usr/bin/env python3
"""Regenerates src/identity/common_passwords.txt (the list of refused passwords).

Source: John the Ripper's password.lst (Solar Designer, Openwall, 1996-2011,
"assumed to be in the public domain"), shipped by Debian's `john-data` package
as /usr/share/john/password.lst (`apt-get download john-data` and
`dpkg-deb -x` it to read the file without installing). Entries are ordered by
how common they were.

The policy refuses passwords under 8 characters anyway, so the output keeps:
  1. every entry of at least 8 characters;
  2. the most common shorter entries with the suffixes people add to reach a
     length rule ("monkey" -> "monkey123", "dragon2024"), when that makes 8+;
  3. keyboard and digit runs of 8+ characters.
All lower case (the check is case-insensitive), one per line, no duplicates.

usage: gen_common_passwords.py /usr/share/john/password.lst > src/identity/common_passwords.txt
"""
import sys

SUFFIXES = ["1", "12", "123", "1234", "12345", "123456", "!", "1!", "123!", "01", "11", "69",
            "2020", "2021", "2022", "2023", "2024", "2025", "2026"]
SHORT_WORDS = 300  # how many of the most common short entries get suffixes
RUNS = ["1234567890", "0987654321", "qwertyuiop", "asdfghjkl", "zxcvbnm", "1qaz2wsx3edc",
        "qazwsxedc", "abcdefghij", "0123456789"]


def main():
    words = []
    for line in open(sys.argv[1], encoding="latin-1"):
        line = line.rstrip("\r\n")
        if line.startswith("#!comment") or not line:
            continue
        words.append(line.lower())
    out, seen = [], set()

    def emit(w):
        if len(w) >= 8 and w not in seen and w.isprintable():
            seen.add(w)
            out.append(w)

    for w in words:
        emit(w)
    short = [w for w in words if len(w) < 8 and w.isalnum()][:SHORT_WORDS]
    for w in short:
        for s in SUFFIXES:
            emit(w + s)
    for r in RUNS:
        for n in range(8, len(r) + 1):
            emit(r[:n])
    print("# Passwords refused as too common (see scripts/gen_common_passwords.py).")
    print("# Derived from John the Ripper's password.lst (public domain; Debian john-data).")
    print("\n".join(out))


if __name__ == "__main__":
    main()
