# `make bench`: the figures of bench/RESULTS.md, measured side by side in one run
# (bench/run.lua). `make bench-smoke` runs it with tiny sizes, as CI does.
BENCH_BUILD = build/bench
BENCH_BINS = $(BENCH_BUILD)/bench-server $(BENCH_BUILD)/bench-limit $(BENCH_BUILD)/bench-sse
BENCH_CFLAGS = -O2 -g -Wall -Wextra -Werror

.PHONY: bench bench-smoke bench-deps

bench-deps:
	@sh bench/setup

$(BENCH_BUILD)/bench-server: bench/server.c
	@mkdir -p $(BENCH_BUILD)
	$(CC) $(BENCH_CFLAGS) -o $@ bench/server.c

$(BENCH_BUILD)/bench-limit: bench/limit.c
	@mkdir -p $(BENCH_BUILD)
	$(CC) $(BENCH_CFLAGS) $(CURL_CFLAGS) -o $@ bench/limit.c $(CURL_LIBS)

$(BENCH_BUILD)/bench-sse: bench/sse_bench.c src/sse.c src/buffer.c src/sse.h src/buffer.h
	@mkdir -p $(BENCH_BUILD)
	$(CC) $(BENCH_CFLAGS) -std=c99 -Isrc -o $@ bench/sse_bench.c src/sse.c src/buffer.c

bench: deps bench-deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	lua5.4 bench/run.lua $(BENCH_ARGS)

bench-smoke: deps bench-deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	lua5.4 bench/run.lua --smoke $(BENCH_ARGS)
