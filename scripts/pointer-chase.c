/* Memory latency of this machine: random dependent loads over a buffer of
 * the given size (a shuffled cycle of cache lines), ns per load. Used to
 * read the eBPF session-lookup figures in BENCHMARKS.md (how much of a
 * lookup is memory latency).
 *
 *   gcc -O2 -o /tmp/pointer-chase scripts/pointer-chase.c
 *   for mb in 1 4 8 16 64; do taskset -c 1 /tmp/pointer-chase $mb; done
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 8;
	size_t n = mb * 1024 * 1024 / 64; /* cache lines */
	size_t *a = aligned_alloc(64, n * 64);
	size_t *idx = malloc(n * sizeof(size_t));
	if (!a || !idx || n < 2)
		return 1;
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	srand(1);
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)rand() % (i + 1), t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
	/* One cycle through every line, in shuffled order. */
	for (size_t i = 0; i < n; i++)
		a[idx[i] * 8] = idx[(i + 1) % n] * 8;
	struct timespec s, e;
	size_t p = 0, iters = 20000000;
	clock_gettime(CLOCK_MONOTONIC, &s);
	for (size_t i = 0; i < iters; i++)
		p = a[p];
	clock_gettime(CLOCK_MONOTONIC, &e);
	double ns = (double)(e.tv_sec - s.tv_sec) * 1e9 + (double)(e.tv_nsec - s.tv_nsec);
	printf("%zu MB: %.1f ns per load (%zu)\n", mb, ns / (double)iters, p);
	return 0;
}
