# mig: PostgreSQL migrations as small Unix tools. `just --list` is the menu.
#
# The recipes live in mig.just, which a project can import into its own
# justfile as they are (docs/docker.md). A .env file beside this justfile
# sets DATABASE_URL, DOCKER_DATABASE_URL, POSTGRES_* and MIG_* (mig.just
# lists them, .env.example shows each); compose reads the same file.

set dotenv-load := true

# Show this menu
[group('help')]
default:
    @{{ quote(just_executable()) }} --justfile {{ quote(justfile()) }} --list --unsorted

import 'mig.just'
