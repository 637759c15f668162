"""Where uploaded bytes live. Storage knows ticket IDs and bytes, nothing of HTTP or sockets."""
