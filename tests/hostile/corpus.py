"""Shared by the hostile-corpus generators (tests/hostile/*/make_*_corpus.py):
write the case files and their cases.txt list."""
import os


def write_cases(out, header, cases, what):
    """Write each (name, bytes, message) case as OUT/name and list it in
    OUT/cases.txt as name<TAB>message, after the '# ' header lines."""
    names = set()
    with open(os.path.join(out, "cases.txt"), "w") as lst:
        for line in header:
            lst.write("# %s\n" % line)
        for name, data, msg in cases:
            assert name not in names, name
            names.add(name)
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
            lst.write("%s\t%s\n" % (name, msg))
    print("%d %s cases in %s" % (len(cases), what, out))
