# Sourced by bench/peer.sh and bench/oneshot.sh: install_peer installs
# the peer, node-llama-cpp@3.22.1 (llama.cpp's prebuilt release build for
# this platform), once into the scratch folder PEER_DIR (default
# ~/.cache/xraygpt-bench/node-llama-cpp), never into this repository: a
# benchmark tool only, never a dependency of the program. Only the package
# of this platform's prebuilt binaries is installed (no CUDA or Vulkan
# variants), and no install script runs.
peer_version=3.22.1
export PEER_DIR=${PEER_DIR:-$HOME/.cache/xraygpt-bench/node-llama-cpp}
install_peer() {
	command -v node >/dev/null && command -v npm >/dev/null || { echo "needs node (>= 20) and npm" >&2; exit 1; }
	local platform
	platform=$(node -p 'process.platform + "-" + process.arch')
	installed() { node -p "require('$PEER_DIR/node_modules/$1/package.json').version" 2>/dev/null; }
	if [ "$(installed node-llama-cpp)" != "$peer_version" ] || [ "$(installed "@node-llama-cpp/$platform")" != "$peer_version" ]; then
		echo "installing node-llama-cpp@$peer_version into $PEER_DIR" >&2
		mkdir -p "$PEER_DIR"
		[ -f "$PEER_DIR/package.json" ] || echo '{"name": "xraygpt-peer-bench", "private": true}' >"$PEER_DIR/package.json"
		NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --prefix "$PEER_DIR" --ignore-scripts --omit=optional --no-audit --no-fund \
			"node-llama-cpp@$peer_version" "@node-llama-cpp/$platform@$peer_version" >&2
	fi
}
