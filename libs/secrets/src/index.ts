export { parseSecretKeys, SecretBox, SecretDecryptionError, SecretKeyConfigError, type SecretKey } from './secret-box';
