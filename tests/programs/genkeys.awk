# SPDX-License-Identifier: MIT
# genkeys.awk - the keys and values of the redis test:
#   awk -v n=N -v size=V -v mode=load|get|values -f genkeys.awk
# mode=load: SET commands in the Redis protocol, for redis-cli --pipe;
# mode=get: MGET commands, 100 keys a line, for redis-cli reading stdin;
# mode=values: what those MGETs must return, one value a line.
# Value i: its key number and a hash of it, then a slice of a fixed text of
# random hex that starts at a place of its own: compressible about 2:1, each
# value different.
function value(i,   h) {
	h = (i * 2654435761) % 4294967291
	return sprintf("%08d:%08x:", i, h) substr(base, h % size + 1, size - 18)
}
BEGIN {
	srand(3)
	while (length(base) < 2 * size)
		base = base sprintf("%08x", int(rand() * 4294967296))
	for (i = 0; i < n; i++) {
		if (mode == "load") {
			v = value(i)
			k = sprintf("key:%08d", i)
			printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
		} else if (mode == "get") {
			printf "%s", (i % 100 == 0 ? "MGET" : "") sprintf(" key:%08d", i)
			if (i % 100 == 99 || i == n - 1)
				printf "\n"
		} else {
			print value(i)
		}
	}
}
