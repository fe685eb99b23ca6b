# SPDX-License-Identifier: MIT
# gentext.awk - deterministic text for the sort and xz tests:
#   awk -v lines=N -v seed=S -f gentext.awk
# Each line: an 8-digit key, 20 characters cut from a fixed phrase at a random
# place, a random word count and the line number in hex.  Keys repeat, so the
# sort is not already decided by the first field.
BEGIN {
	srand(seed + 0)
	phrase = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau"
	for (i = 0; i < lines; i++)
		printf "%08d %s %d %x\n", int(rand() * 5e7), substr(phrase, int(rand() * 80) + 1, 20),
			int(rand() * 1000), i
}
