// placeholder so the target builds; replaced by the SuffixArray implementation
