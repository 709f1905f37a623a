import { defineErrors } from '../../common/error-catalog';

export const SSH_KEY_ERRORS = defineErrors({
  'ssh_key.not_found': { status: 404, title: 'SSH key not found' },
  'ssh_key.limit_reached': {
    status: 403,
    title: 'Too many SSH keys',
    extensions: { limit: { type: 'integer', description: 'The most keys a user may hold', example: 50 } },
  },
  'ssh_key.name_taken': { status: 409, title: 'You already have an SSH key with this name' },
  'ssh_key.already_added': { status: 409, title: 'You already added this key' },
  'ssh_key.invalid': { status: 400, title: 'Not an OpenSSH public key' },
  'ssh_key.private_key': { status: 400, title: 'A private key was sent' },
  'ssh_key.unsupported_type': { status: 400, title: 'Unsupported key type' },
  'ssh_key.too_weak': { status: 400, title: 'Key too short' },
  'ssh_key.too_large': { status: 400, title: 'Key too long' },
  'vm.unknown_ssh_key': {
    status: 400,
    title: 'Not one of your SSH keys',
    extensions: {
      ssh_key_ids: { type: 'array', items: { type: 'string', format: 'uuid' }, description: 'The ssh_key_ids that are not keys of yours' },
    },
  },
});
