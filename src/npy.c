/* npy.c - being written */
