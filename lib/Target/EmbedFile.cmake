# Writes the text of INPUT to OUTPUT as a C++ raw string literal (for #include in an
# initialiser). Run with cmake -DINPUT=... -DOUTPUT=... -P EmbedFile.cmake.
file(READ "${INPUT}" content)
file(WRITE "${OUTPUT}.tmp" "R\"precis_embed(${content})precis_embed\"\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
