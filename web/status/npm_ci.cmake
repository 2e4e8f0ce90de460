# Installs the status page's chart library (package-lock.json) with `npm ci` into DEST, at build
# time, and records in STATE whether it worked: "ok", or why not. It never fails the build: without
# npm, or without a reachable registry (and no npm cache), ternserve is built without the library
# and its page says plainly that the charts are missing.
#   cmake -DNPM=<npm or empty> -DSRC=<web/status> -DDEST=<dir> -DSTATE=<file> -P npm_ci.cmake
if(NOT NPM)
  file(WRITE ${STATE} "npm was not found when the build was configured")
  message(WARNING "status page: no npm, so no chart library; the page will show text only "
                  "(apt-get install npm, then re-run cmake)")
  return()
endif()
file(MAKE_DIRECTORY ${DEST})
file(COPY ${SRC}/package.json ${SRC}/package-lock.json DESTINATION ${DEST})
execute_process(
  COMMAND ${NPM} ci --no-audit --no-fund --ignore-scripts --loglevel=error
  WORKING_DIRECTORY ${DEST}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output
  TIMEOUT 300)
if(result EQUAL 0)
  file(WRITE ${STATE} "ok")
else()
  string(STRIP "${output}" output)
  file(WRITE ${STATE} "npm ci failed (${result})")
  message(WARNING "status page: npm ci failed, so no chart library; the page will show text "
                  "only. Is the npm registry reachable? (${result}) ${output}")
endif()
