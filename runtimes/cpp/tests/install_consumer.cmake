# cmake -DBUILD_DIR=... -DPREFIX=... -DCONSUMER_SOURCE=... -DCXX=... -DGENERATOR=... -DEXPORT_DIR=... -P this
# Installs the built crsae into a fresh PREFIX, then configures, builds and runs tests/consumer against it with
# find_package(crsae) (nothing from the build or source tree on its paths), and runs the installed crsae-infer.
foreach(var BUILD_DIR PREFIX CONSUMER_SOURCE CXX GENERATOR EXPORT_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_consumer.cmake needs -D${var}=...")
  endif()
endforeach()

function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${PREFIX}")
step("install into ${PREFIX}" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}")
foreach(f include/crsae/model.hpp include/crsae/contract_generated.hpp share/crsae/contract.json
          bin/crsae-infer bin/crsae-bench)
  if(NOT EXISTS "${PREFIX}/${f}")
    message(FATAL_ERROR "the install lacks ${f}")
  endif()
endforeach()
file(GLOB_RECURSE configs "${PREFIX}/*/crsaeConfig.cmake")
file(GLOB_RECURSE versions "${PREFIX}/*/crsaeConfigVersion.cmake")
if(NOT configs OR NOT versions)
  message(FATAL_ERROR "the install lacks crsaeConfig.cmake or crsaeConfigVersion.cmake")
endif()

set(consumer_build "${PREFIX}/consumer-build")
step("configure the consumer" "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE}" -B "${consumer_build}" -G "${GENERATOR}"
     "-DCMAKE_CXX_COMPILER=${CXX}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${PREFIX}"
     -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
step("build the consumer" "${CMAKE_COMMAND}" --build "${consumer_build}")

set(model "${EXPORT_DIR}/models/spikes1d.onnx")
set(input "${EXPORT_DIR}/golden/spikes1d.signal.npy")
step("run the consumer" "${consumer_build}/consumer" "${model}" "${input}")
if(NOT step_output MATCHES "^contract crsae-onnx 1; 1d model, min_size [0-9]+; codes \\([0-9]+, [0-9]+, [0-9]+\\); onnxruntime ")
  message(FATAL_ERROR "unexpected consumer output: ${step_output}")
endif()
message(STATUS "consumer: ${step_output}")

# The installed CLI finds its libraries from the prefix (RPATH $ORIGIN/../lib).
step("run the installed crsae-infer" "${PREFIX}/bin/crsae-infer" "${model}" "${input}" -o "${PREFIX}/codes.npy")
if(NOT EXISTS "${PREFIX}/codes.npy")
  message(FATAL_ERROR "the installed crsae-infer wrote no output")
endif()
file(REMOVE_RECURSE "${PREFIX}")
