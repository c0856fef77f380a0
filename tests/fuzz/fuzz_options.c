/*
 * fuzz_options.c - sanitizer defaults built into every harness.
 *
 * A small hostile model can legitimately ask for gigabytes (a 16 GB
 * initializer shape, a huge activation arena at plan time).  Such requests are
 * not crashes: the code is expected to refuse them or to report "out of
 * memory" when the allocation fails.  So allocations over 256 MB fail (return
 * NULL) instead of stopping the fuzzer, which also exercises every
 * out-of-memory path; real memory use stays bounded by libFuzzer's
 * -rss_limit_mb.  ASAN_OPTIONS in the environment still override these.
 */
const char *__asan_default_options(void);

const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1:max_allocation_size_mb=256:detect_leaks=1";
}
