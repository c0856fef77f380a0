#!/usr/bin/python3
"""Generate the .npy hostile corpus (tests/hostile/npy/): files npy_read must refuse.

Run with Debian's interpreter (standard library only):
    /usr/bin/python3 tests/hostile/npy/make_npy_corpus.py [OUTDIR]

Every file is one case, listed in cases.txt as
    file<TAB>substring of the error message
The files are committed; this script is only for regenerating them.  The
test (tests/hostile/cli.sh) feeds each file to `qlens run MODEL --input FILE`,
which reads the array before any other work, and checks for one error line
naming the file and holding the substring, a non-zero exit and no stdout.

What src/npy.c accepts by design, and is therefore NOT a case here: big-endian
('>f4'), native ('=f4') and 1-byte '|' orders, fortran_order True, version
2.0 and 3.0, either quote, keys in any order, trailing commas, Python 2's
'L' suffix, a header that does not end with a newline, shape () and zero
dimensions.  Trailing bytes after the data are refused (long_data.npy).
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from corpus import write_cases  # noqa: E402

MAGIC = b"\x93NUMPY"
OK_DICT = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"


def npy(header, data=b"", version=(1, 0), magic=MAGIC, pad=True, length=None):
    """A .npy file: header is str or bytes; padded to 64 with spaces and '\\n'
    unless pad is False; length overrides the header length field."""
    if isinstance(header, str):
        header = header.encode("latin-1")
    lenbytes = 2 if version == (1, 0) else 4
    pre = len(magic) + 2 + lenbytes
    if pad:
        total = pre + len(header) + 1
        header = header + b" " * ((-total) % 64) + b"\n"
    n = len(header) if length is None else length
    field = struct.pack("<H" if lenbytes == 2 else "<I", n)
    return magic + bytes(version) + field + header + data


def f4(n):
    return struct.pack("<%df" % n, *[float(i) for i in range(n)])


def d(descr="'<f4'", fortran="False", shape="(2, 3)"):
    return "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


CASES = [
    # preamble
    ("empty.npy", b"", "not a .npy file"),
    ("bad_magic.npy", npy(OK_DICT, f4(6), magic=b"\x93NUMPZ"), "not a .npy file"),
    ("text_file.npy", b"x,y\n1,2\n", "not a .npy file"),
    ("magic_only.npy", MAGIC, "truncated before the format version"),
    ("no_header_length.npy", MAGIC + b"\x01\x00\x76", "truncated before the header length"),
    ("version_4_0.npy", npy(OK_DICT, f4(6), version=(4, 0)), "format version 4.0 is not supported"),
    ("version_1_1.npy", npy(OK_DICT, f4(6), version=(1, 1)), "format version 1.1 is not supported"),
    ("version_0_0.npy", npy(OK_DICT, f4(6), version=(0, 0)), "format version 0.0 is not supported"),
    ("header_length_4g.npy", npy(OK_DICT, f4(6), version=(2, 0), length=0xFFFFFFFF),
     "header is 4294967295 bytes, over the 10000-byte limit"),
    ("header_over_10k.npy", npy(OK_DICT + " " * 10100, f4(6), version=(2, 0)),
     "over the 10000-byte limit"),
    ("truncated_header.npy", npy(OK_DICT)[:40], "truncated inside the 118-byte header"),
    # the dictionary
    ("header_not_dict.npy", npy("[('descr', '<f4'), ('shape', (2, 3))]", f4(6)), "header: expected '{'"),
    ("header_empty.npy", npy("", f4(6)), "header: expected '{', found the end of the header"),
    ("missing_descr.npy", npy("{'fortran_order': False, 'shape': (2, 3), }", f4(6)),
     "header: missing key 'descr'"),
    ("missing_fortran_order.npy", npy("{'descr': '<f4', 'shape': (2, 3), }", f4(6)),
     "header: missing key 'fortran_order'"),
    ("missing_shape.npy", npy("{'descr': '<f4', 'fortran_order': False, }", f4(6)),
     "header: missing key 'shape'"),
    ("unknown_key.npy", npy(OK_DICT[:-1] + "'dtype': 'float32', }", f4(6)), "header: unknown key 'dtype'"),
    ("duplicate_key.npy", npy(OK_DICT[:-1] + "'descr': '<f8', }", f4(6)), "header: key 'descr' appears twice"),
    ("trailing_garbage.npy", npy(OK_DICT + " os.system('x')", f4(6)), "header: unexpected bytes after '}'"),
    ("missing_comma.npy", npy("{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3), }", f4(6)),
     "header: expected ',' or '}'"),
    ("missing_colon.npy", npy("{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3), }", f4(6)),
     "header: expected ':'"),
    ("unterminated_dict.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", f4(6)),
     "header: expected a quoted string, found the end of the header"),
    ("unterminated_string.npy", npy("{'descr': '<f4", f4(6), pad=False), "header: unterminated string"),
    ("backslash_in_string.npy", npy(d(descr="'<f\\x34'"), f4(6)), "header: unsupported character in a string"),
    ("escape_in_key.npy", npy("{'\x1b[2J': 1, }", f4(6)), "header: unknown key '?[2J'"),
    ("non_ascii_byte.npy", npy(b"{\xff'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f4(6)),
     "header: expected a quoted string, found '?"),
    ("nul_padding.npy", npy(OK_DICT + "\0\0\0\0", f4(6)), "header: unexpected bytes after '}'"),
    ("key_not_quoted.npy", npy("{descr: '<f4', fortran_order: False, shape: (2, 3)}", f4(6)),
     "header: expected a quoted string"),
    # descr
    ("object_dtype.npy", npy(d(descr="'|O'"), b"\0" * 48), "object arrays are not supported"),
    ("structured_dtype.npy", npy(d(descr="[('a', '<f4')]"), f4(6)), "structured arrays are not supported"),
    ("void_dtype.npy", npy(d(descr="'|V4'"), f4(6)), "structured (void) arrays are not supported"),
    ("unicode_dtype.npy", npy(d(descr="'<U1'"), f4(6)), "unicode string arrays are not supported"),
    ("bytes_dtype.npy", npy(d(descr="'|S4'"), f4(6)), "byte string arrays are not supported"),
    ("complex_dtype.npy", npy(d(descr="'<c8'"), f4(12)), "complex arrays are not supported"),
    ("datetime_dtype.npy", npy(d(descr="'<M8[s]'"), b"\0" * 48), "datetime arrays are not supported"),
    ("float128_dtype.npy", npy(d(descr="'<f16'"), b"\0" * 96), "16-byte 'f' elements are not supported"),
    ("int3_dtype.npy", npy(d(descr="'<i3'"), b"\0" * 18), "3-byte 'i' elements are not supported"),
    ("descr_not_type.npy", npy(d(descr="'float32'"), f4(6)), "'descr' 'float32' is not a type string"),
    ("descr_no_size.npy", npy(d(descr="'<f'"), f4(6)), "'descr' '<f' is not a type string"),
    ("descr_not_string.npy", npy(d(descr="4"), f4(6)), "header: expected a quoted string"),
    ("descr_pipe_multibyte.npy", npy(d(descr="'|f4'"), f4(6)), "byte order '|' is only valid for 1-byte elements"),
    # fortran_order
    ("fortran_order_string.npy", npy(d(fortran="'False'"), f4(6)), "expected True or False for 'fortran_order'"),
    ("fortran_order_truex.npy", npy(d(fortran="Truex"), f4(6)), "expected True or False for 'fortran_order'"),
    ("fortran_order_one.npy", npy(d(fortran="1"), f4(6)), "expected True or False for 'fortran_order'"),
    # shape
    ("shape_negative.npy", npy(d(shape="(-3, 4)"), f4(12)), "dimension 0 is negative (-3)"),
    ("shape_dim_overflow.npy", npy(d(shape="(99999999999999999999,)"), f4(6)), "dimension 0 does not fit in 64 bits"),
    ("shape_product_overflow.npy", npy(d(shape="(4294967296, 4294967296)"), f4(6)), "-byte tensor limit"),
    ("shape_over_limit.npy", npy(d(shape="(4294967296, 8)"), f4(6)), "-byte tensor limit"),
    ("shape_huge_small_data.npy", npy(d(shape="(1000000, 1000)"), f4(6)),
     "data is truncated: float32 [1000000,1000] needs 4000000000 bytes"),
    ("shape_not_tuple.npy", npy(d(shape="(6)"), f4(6)), "'shape' is not a tuple"),
    ("shape_list.npy", npy(d(shape="[2, 3]"), f4(6)), "header: expected a tuple for 'shape'"),
    ("shape_float.npy", npy(d(shape="(2.5, 3)"), f4(6)), "header: expected ',' or ')' in 'shape'"),
    ("shape_rank_9.npy", npy(d(shape="(1, 1, 1, 1, 1, 1, 1, 1, 1)"), f4(1)), "'shape' has more than 8 dimensions"),
    # data
    ("short_data.npy", npy(OK_DICT, f4(5)), "data is truncated: float32 [2,3] needs 24 bytes, the file holds 20"),
    ("no_data.npy", npy(OK_DICT), "data is truncated: float32 [2,3] needs 24 bytes, the file holds 0"),
    ("long_data.npy", npy(OK_DICT, f4(7)), "4 bytes of unexpected data after the 24 bytes"),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    write_cases(out, ["Generated by tests/hostile/npy/make_npy_corpus.py - do not edit.",
                      "file<TAB>substring of the error message npy_read gives"],
                CASES, ".npy")


if __name__ == "__main__":
    main()
