# shellcheck shell=bash
# Lets `bats test/stress` (make stress) find the suite's server setup.
# shellcheck source-path=SCRIPTDIR source=../setup_suite.bash
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/setup_suite.bash"
