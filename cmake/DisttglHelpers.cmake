# Helpers so each folder's CMakeLists.txt only declares its targets.
include_guard(GLOBAL)

set(DISTTGL_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wconversion
    -Wno-sign-conversion)

# Applies disttgl's warning policy to a target's own sources (never to dependencies).
function(disttgl_warnings target)
  # System fmt before LibTorch's bundled copy (see Dependencies.cmake).
  target_include_directories(${target} SYSTEM BEFORE PRIVATE "${DISTTGL_FMT_SHIM}")
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${DISTTGL_WARNINGS}>)
  if(DISTTGL_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
  endif()
endfunction()

# LibTorch's wheel exports its own copies of libstdc++ symbols (std::filesystem among them); an
# executable that lists libtorch before libstdc++ binds to those copies, and remove_all then
# crashes. Every disttgl executable names libstdc++ first, so the standard library wins.
function(disttgl_executable target)
  target_link_options(${target} BEFORE PRIVATE "LINKER:--push-state,--no-as-needed" "-lstdc++"
                      "LINKER:--pop-state")
  disttgl_warnings(${target})
endfunction()

# disttgl_library(NAME name SRCS ... [DEPS ...] [INCLUDE dir]) -> static library disttgl::name
function(disttgl_library)
  cmake_parse_arguments(A "" "NAME;INCLUDE" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(disttgl_${A_NAME} STATIC ${A_SRCS})
  add_library(disttgl::${A_NAME} ALIAS disttgl_${A_NAME})
  if(A_INCLUDE)
    target_include_directories(disttgl_${A_NAME} PUBLIC ${A_INCLUDE})
  endif()
  target_link_libraries(disttgl_${A_NAME} PUBLIC ${A_DEPS} PRIVATE ${A_PRIVATE_DEPS})
  disttgl_warnings(disttgl_${A_NAME})
endfunction()

# disttgl_test(NAME name SRCS ... DEPS ... [LABELS ...]) -> GoogleTest executable run by ctest
function(disttgl_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main)
  disttgl_executable(${A_NAME})
  target_compile_definitions(${A_NAME} PRIVATE
    DISTTGL_SHARED_DIR="${DISTTGL_SHARED_DIR}"
    DISTTGL_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    DISTTGL_TRAINER_BIN="$<TARGET_FILE:disttgl-trainer>")
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 600)
  endif()
  gtest_discover_tests(${A_NAME} PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT}
                       DISCOVERY_TIMEOUT 60)
endfunction()
