import type { WebSocket } from 'ws';
import { BUDGETS } from '../../core/budgets';

/**
 * Backpressure: a peer that stops reading is cut off rather than buffered for without bound (an agent, or a
 * viewer that asks for much and never reads). True when `socket` was over the budget and has been terminated:
 * the caller must not write.
 */
export function cutOffIfNotReading(socket: WebSocket, onCutOff: (buffered: number) => void): boolean {
  if (socket.bufferedAmount <= BUDGETS.peerBufferedBytes.limit) return false;
  onCutOff(socket.bufferedAmount);
  socket.terminate();
  return true;
}
