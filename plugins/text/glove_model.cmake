# Build step of the text plugin's default model (run with cmake -P on every build; cheap when
# the model is up to date). Converts the npm package's GloVe JSON (INPUT, installed by
# tools/setup) into the TorchScript model OUTPUT next to reco_text.so with CONVERT
# (reco_text_convert), when OUTPUT is missing or older than INPUT or CONVERT. Without INPUT
# the build goes on: the plugin then falls back to its hashed n-gram model and says so.
foreach(var CONVERT INPUT OUTPUT SOURCE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "glove_model.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT EXISTS "${INPUT}")
  if(EXISTS "${OUTPUT}")
    message(STATUS "text plugin: ${INPUT} is gone; keeping ${OUTPUT}")
  else()
    message(WARNING "text plugin: no GloVe word vectors at ${INPUT} (run tools/setup, then "
                    "build again); reco_text falls back to its hashed n-gram model")
  endif()
  return()
endif()
if(EXISTS "${OUTPUT}" AND NOT "${INPUT}" IS_NEWER_THAN "${OUTPUT}"
   AND NOT "${CONVERT}" IS_NEWER_THAN "${OUTPUT}")
  return()
endif()
execute_process(
  COMMAND "${CONVERT}" --input "${INPUT}" --output "${OUTPUT}" --source "${SOURCE}"
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  file(REMOVE "${OUTPUT}")
  message(FATAL_ERROR "text plugin: reco_text_convert failed (${result})")
endif()
