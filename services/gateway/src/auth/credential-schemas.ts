import { z } from 'zod';
import { whenPresent } from '../http/schema-messages.js';

/** A user's email: valid, at most 254 characters, stored lower-cased (registration and added members). */
export const emailSchema = z
  .email({ error: whenPresent('not an email address') })
  .max(254)
  .transform((email) => email.toLowerCase());

/** A user's password: 8–1024 characters (registration and added members). */
export const passwordSchema = z
  .string()
  .min(8, 'too short: at least 8 characters')
  .max(1024, 'too long: at most 1024 characters');
