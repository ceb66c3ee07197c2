/**
 * End-to-end batch answers (`ward run --e2e`, docs/api.md): the request header carrying the
 * client's ephemeral age X25519 recipient, and the content type of the answer encrypted to it (a
 * binary age file of the batch JSON).
 */
export const E2E_HEADER = 'ward-e2e-recipient';
export const E2E_CONTENT_TYPE = 'application/vnd.ward.e2e+age';
