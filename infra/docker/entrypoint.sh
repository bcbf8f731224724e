#!/bin/sh
# The image's entrypoint: runs one service, named by the first argument or by $S1C_SERVICE.
#   docker run IMAGE registry            docker run -e S1C_SERVICE=health IMAGE
#   docker run IMAGE s1-simulator --port 8088 --live
#   docker run IMAGE s1c source list     (the CLI; in compose: docker compose run --rm s1c source list)
# Extra arguments go to the service. `exec` makes node the process that receives SIGTERM.
set -eu

service="${1:-${S1C_SERVICE:-}}"
if [ "$#" -gt 0 ]; then shift; fi

case "$service" in
  registry | scheduler | fetcher-activities | fetcher-agents | fetcher-threats | fetcher-alerts | fetcher-groups | enricher | health | gateway | s1-simulator)
    main="/app/services/$service/dist/main.js" ;;
  s1c | cli)
    main="/app/services/cli/dist/main.js" ;;
  demo-source)
    main="/app/infra/docker/demo-source.mjs" ;;
  "")
    echo "usage: IMAGE <service> [args...] (or set S1C_SERVICE); services: registry scheduler fetcher-activities fetcher-agents fetcher-threats fetcher-alerts fetcher-groups enricher health gateway s1-simulator demo-source s1c" >&2
    exit 64 ;;
  *)
    echo "unknown service: $service (registry scheduler fetcher-activities fetcher-agents fetcher-threats fetcher-alerts fetcher-groups enricher health gateway s1-simulator demo-source s1c)" >&2
    exit 64 ;;
esac

if [ ! -f "$main" ]; then
  echo "$service is not built into this image ($main is missing)" >&2
  exit 64
fi

exec node "$main" "$@"
