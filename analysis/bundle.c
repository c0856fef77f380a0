/* bundle.c - being written */
