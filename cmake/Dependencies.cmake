# Third-party packages. Debian packages come from scripts/setup.sh; LibTorch and the CUDA
# toolkit come from the project-local .venv and .deps/cuda that the same script creates.
include_guard(GLOBAL)

find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(ZLIB REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)  # Debian's prometheus-cpp-dev (1.0.1)
find_package(OpenSSL REQUIRED)
find_package(cpprestsdk CONFIG REQUIRED)       # Debian's libcpprest-dev (2.10.18): the operator's HTTP client

# LibTorch: CMAKE_PREFIX_PATH carries torch.utils.cmake_prefix_path (the presets set it).
# The PyPI wheel is built with CUDA, so its CMake config needs the CUDA toolkit whatever
# DISTTGL_WITH_CUDA says; that option only decides whether our own kernels are compiled.
set(_disttgl_cuda_root "${PROJECT_SOURCE_DIR}/.deps/cuda")
if(NOT DEFINED CUDAToolkit_ROOT)
  if(NOT EXISTS "${_disttgl_cuda_root}/bin/nvcc")
    message(FATAL_ERROR "${_disttgl_cuda_root}/bin/nvcc is missing: run scripts/setup.sh")
  endif()
  set(CUDAToolkit_ROOT "${_disttgl_cuda_root}")
endif()
set(CUDA_TOOLKIT_ROOT_DIR "${CUDAToolkit_ROOT}" CACHE PATH "CUDA toolkit for LibTorch")
set(CMAKE_CUDA_COMPILER "${CUDAToolkit_ROOT}/bin/nvcc" CACHE FILEPATH "nvcc")
# Hopper (H100/H200) and Ampere; torch's cuda.cmake reads TORCH_CUDA_ARCH_LIST.
if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(ENV{TORCH_CUDA_ARCH_LIST} "8.0;9.0")
endif()
# Torch's cuda.cmake enables the CUDA language itself and warns about a preset
# CMAKE_CUDA_ARCHITECTURES; let it, then choose the architectures for our own kernels.
cmake_policy(SET CMP0104 OLD)
find_package(Torch REQUIRED)
if(DISTTGL_WITH_CUDA)
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
  set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 cannot pass CUDA20 to nvcc
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
endif()
# LibTorch bundles its own fmt (12.x) in <torch>/include/fmt, which would shadow Debian's fmt 9
# that spdlog 1.10 is built against. Every disttgl target puts a directory holding only a link
# to the system fmt first on its include path (disttgl_warnings does it), so <fmt/...> means the
# system fmt in our code; the inline namespaces (fmt::v9 vs fmt::v12) keep the two apart at link
# time.
find_path(DISTTGL_SYSTEM_FMT_DIR fmt/format.h PATHS /usr/include /usr/local/include
          NO_DEFAULT_PATH)
if(NOT DISTTGL_SYSTEM_FMT_DIR)
  message(FATAL_ERROR "system fmt headers not found: run scripts/setup.sh")
endif()
set(DISTTGL_FMT_SHIM "${CMAKE_BINARY_DIR}/fmt-shim")
file(MAKE_DIRECTORY "${DISTTGL_FMT_SHIM}")
file(CREATE_LINK "${DISTTGL_SYSTEM_FMT_DIR}/fmt" "${DISTTGL_FMT_SHIM}/fmt" SYMBOLIC)

# TorchConfig appends its flags to CMAKE_CXX_FLAGS; keep them but make them visible.
message(STATUS "disttgl: LibTorch ${Torch_VERSION} from ${TORCH_INSTALL_PREFIX}, CUDA=${DISTTGL_WITH_CUDA}")
