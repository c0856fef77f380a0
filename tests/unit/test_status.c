/*
 * test_status.c - error messages are printable text whatever they quote.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "status.h"

static void check_clean(const char *in, const char *want)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%s", in);
	assert_ptr_equal(text_clean(buf), buf);
	assert_string_equal(buf, want);
}

static void test_text_clean(void **state)
{
	(void)state;
	check_clean("", "");
	check_clean("conv1/Relu:0 [3x3]", "conv1/Relu:0 [3x3]");
	check_clean("\x1b[31mred\x1b[0m", "?[31mred?[0m");	    /* escape sequences */
	check_clean("a\tb\nc\rd\x7f", "a?b?c?d?");		    /* controls, DEL */
	check_clean("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80", /* 2, 3, 4 bytes */
		    "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80");
	check_clean("\xc2\xa0nbsp", "\xc2\xa0nbsp");		    /* U+00A0: first after C1 */
	check_clean("x\xc2\x9b" "1m", "x??1m");			    /* C1 CSI as UTF-8 */
	check_clean("x\x9b" "1m", "x?1m");			    /* lone 8-bit CSI */
	check_clean("\xc0\xaf", "??");				    /* overlong '/' */
	check_clean("\xe0\x80\xaf", "???");			    /* overlong, 3 bytes */
	check_clean("\xed\xa0\x80", "???");			    /* surrogate */
	check_clean("\xf4\x90\x80\x80", "????");		    /* past U+10FFFF */
	check_clean("\xf5\x80", "??");				    /* never a lead byte */
	check_clean("ab\xe6\x97", "ab??");			    /* cut short at the end */
	check_clean("\xe6" "a", "?a");				    /* cut short by ASCII */
}

static void test_err_messages_are_clean(void **state)
{
	(void)state;
	struct err e = { 0 };
	assert_int_equal(err_set(&e, ERR_FORMAT, "unknown key '%s'", "\x1b]0;pwned\x07"), ERR_FORMAT);
	assert_int_equal(e.code, ERR_FORMAT);
	assert_string_equal(e.msg, "unknown key '?]0;pwned?'");

	err_prefix(&e, "nodes.%s", "n\x1b" "1");
	assert_string_equal(e.msg, "nodes.n?1: unknown key '?]0;pwned?'");

	/* vsnprintf cuts the message inside a UTF-8 sequence: no partial sequence is left */
	char big[ERR_MSG_MAX + 8];
	memset(big, 'a', sizeof big);
	memcpy(big + ERR_MSG_MAX - 3, "\xe6\x97\xa5", 3); /* bytes 509..511: the last is cut */
	big[sizeof big - 1] = '\0';
	err_set(&e, ERR_LIMIT, "%s", big);
	size_t n = strlen(e.msg);
	assert_int_equal(n, ERR_MSG_MAX - 1);
	assert_memory_equal(e.msg + n - 2, "??", 2);

	/* err may be NULL */
	assert_int_equal(err_set(NULL, ERR_IO, "x\x1b"), ERR_IO);
	err_prefix(NULL, "y");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_clean),
		cmocka_unit_test(test_err_messages_are_clean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
