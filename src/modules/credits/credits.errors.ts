import { defineErrors } from '../../common/error-catalog';

const credits = (description: string, example: number) => ({ type: 'integer' as const, description, example });

export const CREDIT_ERRORS = defineErrors({
  'credits.insufficient': {
    status: 402,
    title: 'Not enough credits',
    extensions: { cost: credits('The price asked', 34), balance: credits('The balance at the time', 20) },
  },
  'credits.invalid_amount': { status: 400, title: 'Not a non-zero whole amount' },
  'credits.balance_limit': {
    status: 409,
    title: 'The balance would exceed its maximum',
    extensions: {
      balance: credits('The balance now', 999_999_990),
      max_balance: credits('The largest balance a user may hold', 1_000_000_000),
    },
  },
  'credits.balance_too_low': {
    status: 409,
    title: 'The deduction would take the balance below zero',
    extensions: { deduction: credits('The credits asked to deduct', 500), balance: credits('The balance now', 100) },
  },
});

/** A VM (or a resize, a snapshot) its buyer cannot pay for: the same 402 from the guard's early check and from the debit itself. */
export function insufficientCredits(cost: number, balance: number, what = 'This VM') {
  return CREDIT_ERRORS.error('credits.insufficient', `${what} costs ${cost} credits and the balance is ${balance}`, { cost, balance });
}
