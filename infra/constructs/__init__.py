"""One construct per capability: storage, functions, api, evaluation, exports, monitoring."""
