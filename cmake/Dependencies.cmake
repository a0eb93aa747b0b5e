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

# LibTorch: CMAKE_PREFIX_PATH carries torch.utils.cmake_prefix_path (the presets set it).
set(_disttgl_cuda_root "${PROJECT_SOURCE_DIR}/.deps/cuda")
if(DISTTGL_WITH_CUDA)
  if(NOT EXISTS "${_disttgl_cuda_root}/bin/nvcc" AND NOT DEFINED CUDAToolkit_ROOT)
    message(FATAL_ERROR "DISTTGL_WITH_CUDA=ON but ${_disttgl_cuda_root}/bin/nvcc is missing: "
                        "run scripts/setup.sh, or configure with -DDISTTGL_WITH_CUDA=OFF")
  endif()
  if(NOT DEFINED CUDAToolkit_ROOT)
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
endif()
find_package(Torch REQUIRED)
if(DISTTGL_WITH_CUDA)
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
endif()
# TorchConfig appends its flags to CMAKE_CXX_FLAGS; keep them but make them visible.
message(STATUS "disttgl: LibTorch ${Torch_VERSION} from ${TORCH_INSTALL_PREFIX}, CUDA=${DISTTGL_WITH_CUDA}")
