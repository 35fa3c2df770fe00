# kscope build, generate and test entry points. Run the tests as root: they
# load real BPF programs.

# The one place the BPF toolchain is pinned: Debian bookworm's clang 14.
CLANG_VERSION := 14
export BPF2GO_CC    := clang-$(CLANG_VERSION)
export BPF2GO_STRIP := llvm-strip-$(CLANG_VERSION)
export GOTOOLCHAIN  := local

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X github.com/kscope/kscope/internal/version.Version=$(VERSION)

.PHONY: all build release image generate check-generate vet lint test test-unit test-race test-vm fuzz fuzz-short bench clean web check-web

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/kscope ./cmd/kscope

# A static, stripped kscope with its version embedded, and its .deb (nfpm,
# pinned in deploy/tools), in $(RELEASE_DIR). Debian versions must start
# with a digit: a tag's leading v goes, and a build between tags is
# 0.0.0+g<commit>. Only amd64: the BPF objects are built for x86-64
# (pt_regs layout, syscall numbers); see docs/deploy.md.
RELEASE_DIR ?= out/release
PKG_VERSION ?= $(shell echo '$(VERSION)' | sed -n -e 's/^v\([0-9]\)/\1/p;t' -e 's/^/0.0.0+g/p')
release:
	rm -rf $(RELEASE_DIR) && mkdir -p $(RELEASE_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(RELEASE_DIR)/kscope_linux_amd64 ./cmd/kscope
	$(GO) -C deploy/tools build -o $(abspath $(RELEASE_DIR))/.nfpm github.com/goreleaser/nfpm/v2/cmd/nfpm
	sed 's|$${BINARY}|$(RELEASE_DIR)/kscope_linux_amd64|' deploy/nfpm.yaml > $(RELEASE_DIR)/.nfpm.yaml
	ARCH=amd64 VERSION='$(PKG_VERSION)' $(RELEASE_DIR)/.nfpm package --config $(RELEASE_DIR)/.nfpm.yaml --packager deb --target $(RELEASE_DIR)/
	rm -f $(RELEASE_DIR)/.nfpm $(RELEASE_DIR)/.nfpm.yaml
	@ls -l $(RELEASE_DIR)

# The container image the Helm chart runs: the release binary alone.
IMAGE ?= ghcr.io/kscope/kscope:$(PKG_VERSION)
image: release
	docker build -f deploy/Dockerfile -t $(IMAGE) $(RELEASE_DIR)

# Regenerate the bpf2go bindings and objects (needs clang-$(CLANG_VERSION)).
generate:
	$(GO) generate ./...

# Regenerate and fail if the committed files differ.
check-generate: generate
	@git diff --exit-code --stat -- '*.go' '*.o' || \
		{ echo "generated BPF files are stale: run 'make generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- '*_bpfel.go' '*_bpfel.o')" || \
		{ echo "untracked generated BPF files: commit them" >&2; exit 1; }

# Rebuild the web UI into internal/web/dist (needs Node.js and npm).
web:
	cd web && npm ci --no-audit --no-fund && npm run build

# Rebuild the web UI, run its unit tests and fail if the committed build
# differs.
check-web: web
	cd web && npm test
	@git diff --exit-code --stat -- internal/web/dist || \
		{ echo "internal/web/dist is stale: run 'make web' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- internal/web/dist)" || \
		{ echo "untracked files in internal/web/dist: run 'make web' and commit" >&2; exit 1; }

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }
	@! git grep -n -E '^(<<<<<<<|>>>>>>>) ' -- ':!*.o' ':!internal/web/dist' || { echo "merge conflict markers left in the files above" >&2; exit 1; }

# staticcheck (pinned as a tool in go.mod; checks in staticcheck.conf) over
# every package and its tests.
lint:
	$(GO) tool staticcheck ./...

# Go's default ten-minute limit per test binary catches hangs; a package
# on a host loaded many times over can need longer without hanging.
test-unit:
	$(GO) test -count=1 -timeout 30m ./...

# The packages that build without cilium/ebpf (the store, API, parsers,
# renderers, symbolizer…) again under the race detector; not deploy, whose
# tests drive make, dpkg, docker and helm.
PURE_PKGS = $(shell $(GO) list -f '{{.ImportPath}}{{range .Deps}} {{.}}{{end}}' ./... | grep -v ' github.com/cilium/ebpf' | cut -d' ' -f1 | grep -vx 'github.com/kscope/kscope/deploy')

# TestEventsScanStops builds a 1.85M-row event store: under the race
# detector that alone outlasts the test timeout. It runs in test-unit.
test-race:
	CGO_ENABLED=1 $(GO) test -race -count=1 -skip '^TestEventsScanStops$$' $(PURE_PKGS)

# Tracers and doctor on Debian's stock kernel, in QEMU (see scripts/test-vm.sh).
test-vm:
	bash scripts/test-vm.sh

# Everything CI runs.
test: check-generate check-web vet lint test-unit test-race fuzz-short test-vm

# Run every fuzz target for FUZZTIME, package by package. A package whose
# tests do not build fails the run. Go's fuzzing coordinator can give up
# with "context deadline exceeded" when a worker answers late at the end
# of the run (a loaded host), having found nothing: such a target runs
# again, up to three times; a failing input or a panic fails at once.
FUZZTIME ?= 15s
fuzz:
	@set -e; \
	for dir in $$(grep -rl --include='*_test.go' --exclude-dir=node_modules --exclude-dir=testdata --exclude-dir=.git '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		targets=$$($(GO) test -list '^Fuzz' $$dir) || { echo "fuzz: go test -list $$dir failed" >&2; exit 1; }; \
		for f in $$(echo "$$targets" | grep '^Fuzz'); do \
			echo "fuzz: $$dir $$f ($(FUZZTIME))"; \
			for try in 1 2 3; do \
				out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$dir 2>&1) && { echo "$$out" | tail -1; break; }; \
				echo "$$out"; \
				case "$$out" in *"Failing input"*|*"panic:"*) exit 1;; *"context deadline exceeded"*) ;; *) exit 1;; esac; \
				[ $$try -lt 3 ] || exit 1; \
				echo "fuzz: $$f: the fuzzing engine's own deadline passed on a loaded host, no failing input: again"; \
			done; \
		done; \
	done

# The short pass of every fuzz target that make test runs.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=2s

bench:
	bash bench/run.sh
	bash bench/syscalls.sh
	bash bench/agent.sh
	bash bench/profile.sh
	bash bench/http.sh
	bash bench/top.sh
	bash bench/footprint.sh
	bash bench/otlp.sh

clean:
	rm -rf bin
