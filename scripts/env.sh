# env.sh: puts the programs of this checkout's build (build/apps) on PATH for the current shell.
# Usage, from any folder:  . scripts/env.sh   (after scripts/nightly.sh --setup or scripts/build.sh)
_mc_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
case ":$PATH:" in
*":$_mc_root/build/apps:"*) ;;
*) PATH="$_mc_root/build/apps:$PATH" && export PATH ;;
esac
unset _mc_root
