/* fileio.c - being written */
