import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Methods, Notifications, SessionMethods, type MethodName } from '../../../core/rpc/methods';
import { notificationType, requestType, sessionRequestType, type NotificationName, type SessionMethodName } from '../../../core/rpc/rpc-contract';

test('each request type carries its own method\'s wire name', () => {
  for (const name of Object.keys(Methods) as MethodName[]) {
    assert.equal(requestType(name).method, Methods[name].method, name);
  }
});

test('the handshake\'s two requests and every notification are typed under their own names', () => {
  for (const name of Object.keys(SessionMethods) as SessionMethodName[]) assert.equal(sessionRequestType(name).method, SessionMethods[name].method, name);
  for (const name of Object.keys(Notifications) as NotificationName[]) assert.equal(notificationType(name).method, Notifications[name].method, name);
});
