/* exec.c - being written */
