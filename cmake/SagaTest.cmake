# saga_add_test(<target> [TIMEOUT <seconds>] [COST <n>] [RESOURCE_LOCK <name>]
#               [LABELS <label>...])
#
# Registers the GoogleTest executable <target> with ctest (one ctest test per
# TEST), labelled by the suffix of its name, which says what it needs:
#   *_test    unit         pure: no database, no child processes
#   *_pgtest  pg           a PostgreSQL cluster (SAGA_TEST_ADMIN_DSN)
#   *_itest   integration  real processes (TestCluster) on PostgreSQL
# so `ctest -L unit` runs everything that needs nothing. Any other name is a
# configure error. LABELS adds labels (e.g. `ha`); TIMEOUT bounds each test.
# COST (default: 10 for integration tests, 0 otherwise) orders a run that has
# no timings of an earlier one (a fresh checkout, CI): ctest starts the
# costliest first, so the long suites do not run alone at the end.
# To register a new test, replace
#   gtest_discover_tests(foo_test PROPERTIES LABELS unit)
# with
#   saga_add_test(foo_test)
function(saga_add_test target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "TIMEOUT;COST;RESOURCE_LOCK"
                        "LABELS")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "saga_add_test(${target}): unknown arguments "
                        "${ARG_UNPARSED_ARGUMENTS}")
  endif()
  set(cost 0)
  if(target MATCHES "_itest$")
    set(labels integration)
    set(cost 10)
  elseif(target MATCHES "_pgtest$")
    set(labels pg)
  elseif(target MATCHES "_test$")
    set(labels unit)
  else()
    message(FATAL_ERROR "saga_add_test(${target}): a test's name ends in "
                        "_test (unit), _pgtest (pg) or _itest (integration)")
  endif()
  list(APPEND labels ${ARG_LABELS})
  # A test's files each define their own file-local helpers (SAGA_UNITY_BUILD).
  set_property(TARGET ${target} PROPERTY UNITY_BUILD OFF)
  set(properties "LABELS [==[${labels}]==]")
  if(ARG_TIMEOUT)
    string(APPEND properties " TIMEOUT ${ARG_TIMEOUT}")
  endif()
  if(ARG_COST)
    set(cost ${ARG_COST})
  endif()
  string(APPEND properties " COST ${cost}")
  if(ARG_RESOURCE_LOCK)
    string(APPEND properties " RESOURCE_LOCK ${ARG_RESOURCE_LOCK}")
  endif()
  # Listing the tests of a big binary can take a while under a sanitizer on
  # a busy machine: 60 s rather than the default 5 s.
  gtest_discover_tests(${target} DISCOVERY_TIMEOUT 60 TEST_LIST ${target}_TESTS)
  # The properties are set by a script ctest runs after the discovered
  # tests' own, since gtest_discover_tests(PROPERTIES) flattens a list value
  # (LABELS "integration;ha" became LABELS integration).
  set(script "${CMAKE_CURRENT_BINARY_DIR}/${target}_properties.cmake")
  file(WRITE "${script}"
    "if(${target}_TESTS)\n"
    "  set_tests_properties(\${${target}_TESTS} PROPERTIES ${properties})\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${script}")
endfunction()
