# office_module(): the one way a module under src/ is declared.
#
#   office_module(NAME core
#     SOURCES result.cpp config.cpp ...
#     PUBLIC_DEPS fmt::fmt ...          # part of the module's interface
#     PRIVATE_DEPS yaml-cpp ...         # implementation only
#     TESTS config_test.cpp ...         # gtest files next to the code
#     TEST_DEPS office::storage ...     # extra deps of the tests only
#     PG_TESTS)                         # tests also run against PostgreSQL
#
# Makes the static library office_<NAME> (alias office::<NAME>); headers are
# included as "<module>/<file>.hpp" from src/. Tests become one executable
# office_<NAME>_tests whose gtest cases are registered with CTest one by one.
function(office_module)
  cmake_parse_arguments(M "PG_TESTS" "NAME" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS;TESTS;TEST_DEPS" ${ARGN})
  set(lib office_${M_NAME})
  add_library(${lib} STATIC ${M_SOURCES})
  add_library(office::${M_NAME} ALIAS ${lib})
  target_include_directories(${lib} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${lib} PUBLIC ${M_PUBLIC_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  if(OFFICE_TESTS AND M_TESTS)
    if(M_PG_TESTS)
      office_test(NAME ${M_NAME} SOURCES ${M_TESTS} DEPS ${lib} ${M_TEST_DEPS} PG)
    else()
      office_test(NAME ${M_NAME} SOURCES ${M_TESTS} DEPS ${lib} ${M_TEST_DEPS})
    endif()
  endif()
endfunction()

# office_test(): a gtest executable office_<NAME>_tests registered with CTest.
# PG: its tests need the throwaway PostgreSQL server of the ctest fixture
# `office_pg` (tests/CMakeLists.txt), found through OFFICE_TEST_PG_URL_FILE.
# Run alone (outside ctest), such a binary starts a server of its own.
function(office_test)
  cmake_parse_arguments(T "PG" "NAME" "SOURCES;DEPS;LABELS" ${ARGN})
  set(pg_props)
  if(T_PG)
    set(pg_props FIXTURES_REQUIRED office_pg
        ENVIRONMENT "OFFICE_TEST_PG_URL_FILE=${CMAKE_BINARY_DIR}/pg-test/url")
  endif()
  set(exe office_${T_NAME}_tests)
  add_executable(${exe} ${T_SOURCES})
  target_link_libraries(${exe} PRIVATE ${T_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${exe} PRIVATE
    OFFICE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    OFFICE_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
  gtest_discover_tests(${exe}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS "unit;${T_NAME};${T_LABELS}" TIMEOUT 300 ${pg_props})
endfunction()
