# Thin wrapper over CMake. `make demo` and `make test` install what is
# missing (apt), build the pinned dependencies once (cached in deps/), build
# ztnad and do their job.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 20
GEN := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all setup deps build asan fuzz test test-unit test-release test-asan test-fuzz repro-check demo clean format

all: build

setup:
	@sh scripts/setup.sh

deps: setup
	@sh scripts/build-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(GEN) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD)

asan: deps
	@cmake -S . -B $(BUILD_ASAN) $(GEN) -DCMAKE_BUILD_TYPE=Debug -DZT_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN)

fuzz: deps
	@CC=clang cmake -S . -B $(BUILD_FUZZ) $(GEN) -DCMAKE_BUILD_TYPE=Debug -DZT_FUZZ=ON >/dev/null
	@cmake --build $(BUILD_FUZZ)

test-unit: build
	@cd $(BUILD) && ctest --output-on-failure -L unit

test-release: build
	@cd $(BUILD) && ctest --output-on-failure

# The same suite under the sanitizers, with the integration tests in their
# light mode (ZT_TEST_LIGHT=1: smaller transfers, fewer rounds; what they
# check is the release stage's, at a size the slower build gets through).
test-asan: asan
	@cd $(BUILD_ASAN) && ZT_TEST_LIGHT=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -LE timer

test-fuzz: fuzz
	@sh scripts/run-fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

# Two builds of the committed tree in different directories are identical.
repro-check: build
	@sh scripts/repro-check.sh $(BUILD)/ztnad

# Release suite, the same suite under ASan+UBSan, each fuzzer briefly, then
# the reproducible-build check.
test: test-release test-asan test-fuzz repro-check
	@echo "make test: all passed"

demo: build
	@sh scripts/demo.sh $(BUILD)/ztnad

format:
	@clang-format -i $$(find src test fuzz -name "*.[ch]" -not -path "src/lwip/*")

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
