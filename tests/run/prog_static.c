// SPDX-License-Identifier: MIT
/* Linked with -static: `uswap run` must refuse it (exit 6). */
int main(void)
{
	return 0;
}
