// The decoder executable (decoder_main.cc, built as reco_dicom_decoder), embedded in the plugin
// so that the plugin stays one self-contained file. decoder_process.cc runs it from a memfd.
// (ccache does not cache files with .incbin, so a new decoder always reaches the plugin.)
#ifndef RECO_DICOM_DECODER_PATH
#error "RECO_DICOM_DECODER_PATH must name the built reco_dicom_decoder executable"
#endif

__asm__(
    ".section .rodata.reco_dicom_decoder,\"a\"\n"
    ".balign 16\n"
    ".globl reco_dicom_decoder_begin\n"
    ".hidden reco_dicom_decoder_begin\n"
    "reco_dicom_decoder_begin:\n"
    ".incbin \"" RECO_DICOM_DECODER_PATH
    "\"\n"
    ".globl reco_dicom_decoder_end\n"
    ".hidden reco_dicom_decoder_end\n"
    "reco_dicom_decoder_end:\n"
    ".previous\n");
