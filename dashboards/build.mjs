// Builds the operator web app into dist/ (filled in below).
