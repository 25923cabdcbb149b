// The VIP proxy relays the tests run on (issue 13 item 2): both where the relay addon is built, which CI
// makes sure of (test/component/vip-relay.test.ts fails where cc and Node's headers are but it is not).
import { nativeRelaySupport, type VipRelayKind } from '../../src/vip/index.js';

export const VIP_RELAY_KINDS: VipRelayKind[] = nativeRelaySupport().available ? ['native', 'node'] : ['node'];
