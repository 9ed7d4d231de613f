export const id = 734;
export const ids = [734];
export const modules = {

/***/ 7734:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  brokerBackend: () => (/* binding */ brokerBackend)
});

// EXTERNAL MODULE: ./core/errors.ts
var errors = __webpack_require__(265);
// EXTERNAL MODULE: ./core/key-request.ts
var key_request = __webpack_require__(4955);
// EXTERNAL MODULE: ./core/safe-text.ts
var safe_text = __webpack_require__(883);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
;// CONCATENATED MODULE: ./core/broker-api.ts
/**
 * The broker's answers on the wire, typed once: the broker builds each body as one of these types
 * (broker/src/http/app.ts), and the action reads them back through the readers here
 * (src/backends/broker/broker-client.ts). A field renamed or retyped on one side breaks the build of the
 * other. broker/openapi.yaml describes the same bodies to everyone else (a test holds it to them).
 *
 * The action trusts nothing in an answer because it is typed: every reader here checks each value and
 * keeps only what is well formed (the tag, a key's owner, is checked by the caller).
 */

/** The caps an answer says were granted; each one that is missing or malformed is left out. */
function readGranted(value) {
    const fields = (typeof value === 'object' && value !== null ? value : {});
    const granted = {};
    const usd = limitOf(fields['usd-limit']);
    const diem = limitOf(fields['diem-limit']);
    if (usd !== undefined)
        granted.usdLimit = usd;
    if (diem !== undefined)
        granted.diemLimit = diem;
    const period = key_request/* LIMIT_PERIODS */.bZ.find((known) => known === fields['limit-period']);
    if (period)
        granted.limitPeriod = period;
    const privacy = fields['model-privacy'];
    if (privacy === '')
        granted.modelPrivacy = undefined;
    else if (key_request/* MODEL_PRIVACIES */.RM.includes(privacy))
        granted.modelPrivacy = privacy;
    return granted;
}
function limitOf(value) {
    return typeof value === 'string' ? (0,key_request/* parseLimit */.Fv)(value) : undefined;
}

// EXTERNAL MODULE: ./core/description-tag.ts
var description_tag = __webpack_require__(9831);
// EXTERNAL MODULE: ./core/key-handle.ts
var key_handle = __webpack_require__(4698);
// EXTERNAL MODULE: ./core/ownership.ts
var ownership = __webpack_require__(3389);
// EXTERNAL MODULE: ./core/retry.ts + 1 modules
var retry = __webpack_require__(3053);
// EXTERNAL MODULE: ./core/venice-api.ts
var venice_api = __webpack_require__(1811);
// EXTERNAL MODULE: ./core/venice-errors.ts
var venice_errors = __webpack_require__(5864);
;// CONCATENATED MODULE: ./src/backends/broker/broker-client.ts
/**
 * The action's side of the key broker (broker/): mint, delete and unwrap, each sent with a fresh OIDC
 * token from the runner. Answers are validated like Venice's: a key is masked the moment it arrives,
 * before anything else is read, and only trusted once its id, secret, date and tag look right. The
 * broker's refusals are explained for the person reading the log: 401 (the token: audience, issuer,
 * permissions), 403 (policy or ownership), 429 (the broker's queue is full: waited out like Venice's).
 *
 * Within the step's `timeout`, a request that got no answer (a replica killed mid-request, a dropped
 * connection), a 429, a 503 (a broker draining for a deploy, its store out of reach, Venice failing) and
 * a load balancer's 502/503/504 are tried again, after the Retry-After given. A mint too, with the same
 * Idempotency-Key: a retry after a lost answer gets the same key back, and a 409 (the first attempt is
 * still in progress) is waited out like a 429.
 * The broker's own 502 (Venice refused the request) is final: trying again cannot change Venice's mind.
 */










/** A failed request to the broker: its status (none: no answer), and whether and when to try again. */
class BrokerError extends errors/* ActionFailure */.dR {
    status;
    retryable;
    rateLimited;
    retryAfterMs;
    summary;
    waitReason;
    constructor(message, details = {}) {
        super(message);
        this.name = 'BrokerError';
        this.status = details.status;
        this.retryable = details.retryable ?? false;
        this.rateLimited = details.rateLimited ?? false;
        this.retryAfterMs = details.retryAfterMs;
        this.summary = details.summary ?? (details.status === undefined ? 'no answer' : `HTTP ${details.status}`);
        this.waitReason = details.waitReason;
    }
}
class BrokerClient {
    options;
    constructor(options) {
        this.options = options;
    }
    /** POST /v1/keys with the key inputs as the broker expects them (the action's own names and syntax). */
    async mint(fields, { rotate = false } = {}) {
        // Retried after a request that got no answer too: a key the lost attempt made was never handed out,
        // and the broker deletes it (its caller hung up, or its mint journal finds it after a crash).
        // One Idempotency-Key for this step's mint, the same on every retry: a retry after a lost answer
        // gets the same key back (the broker keeps it 10 minutes), never a second one.
        const json = await this.send('POST', '/v1/keys', 'minting the key', rotate ? { ...fields, rotate: true } : fields, (0,external_node_crypto_.randomUUID)());
        const data = json;
        if ((0,venice_api/* isApiKey */.A)(data.apiKey))
            this.options.mask(data.apiKey); // before anything else is read or printed
        const tag = (0,description_tag/* parseTag */.ED)(typeof data.description === 'string' ? data.description : '');
        const expiresAt = (0,venice_api/* isoDate */._$)(data.expiresAt);
        const handle = data.handle;
        if (!(0,ownership/* isKeyId */.rZ)(data.id) ||
            !(0,venice_api/* isApiKey */.A)(data.apiKey) ||
            !tag ||
            !(0,description_tag/* isTagOfRepository */.wQ)(tag, this.options.repository) ||
            tag.runId !== this.options.runId ||
            expiresAt === undefined ||
            (handle !== undefined && !(0,key_handle/* isKeyHandle */.SN)(handle))) {
            if ((0,ownership/* isKeyId */.rZ)(data.id))
                await this.deleteKey(data.id).catch(() => undefined);
            throw new errors/* ActionFailure */.dR("the broker's answer to the mint is not a key for this repository and run (id, secret, tag or expiry); nothing from it is used. Check that broker-url points at a venice-key-broker.");
        }
        return {
            id: data.id,
            apiKey: data.apiKey,
            description: data.description,
            expiresAt,
            tag,
            handle: handle,
            rule: typeof data.rule === 'string' ? data.rule : '',
            granted: readGranted(data.granted),
            clamped: Array.isArray(data.clamped) ? data.clamped.filter((item) => typeof item === 'string').slice(0, 10) : [],
            rotated: !rotate || data.rotateFailed === true ? undefined : idsOf(data.rotated),
        };
    }
    /** POST /v1/keys/revoke: every key of the PR (the token's, or `pr` for a merged PR's closing run). */
    async revokePr(pr, dryRun) {
        const json = (await this.send('POST', '/v1/keys/revoke', `revoking the keys of PR #${pr ?? '?'}`, {
            ...(pr === undefined ? {} : { 'pr-number': pr }),
            'dry-run': dryRun,
        }));
        const spent = json.spent;
        return {
            keys: this.ownedKeysOf(json.keys),
            deleted: {
                ids: idsOf(json.deletedIds),
                spent: { usd: amountOf(spent?.usd), diem: amountOf(spent?.diem) },
                unread: typeof json.unread === 'number' ? json.unread : 0,
            },
        };
    }
    /** GET /v1/keys: this repository's keys (never a secret), for sweep to ask GitHub about. */
    async listKeys() {
        const json = (await this.send('GET', '/v1/keys', "listing this repository's keys"));
        return this.ownedKeysOf(json.keys);
    }
    /** POST /v1/keys/sweep: the broker deletes those of `ids` that are this repository's (never a kept key). */
    async sweep(keys, dryRun) {
        const json = (await this.send('POST', '/v1/keys/sweep', 'deleting the keys nobody else will', {
            ids: keys.map((key) => key.id),
            'dry-run': dryRun,
        }));
        return { keys: this.ownedKeysOf(json.keys), deleted: { ids: idsOf(json.deletedIds), spent: { usd: 0, diem: 0 }, unread: 0 } };
    }
    /** The broker's key list, trusted only where each key's own description carries this repository's tag. */
    ownedKeysOf(value) {
        // Anything that is not a list of this repository's keys counts as no keys: nothing is deleted for it.
        return (Array.isArray(value) ? value : []).flatMap((entry) => {
            const key = entry;
            const tag = (0,description_tag/* parseTag */.ED)(typeof key.description === 'string' ? key.description : '');
            const expiresAt = key.expiresAt === null ? null : (0,venice_api/* isoDate */._$)(key.expiresAt);
            if (!(0,ownership/* isKeyId */.rZ)(key.id) || !tag || !(0,description_tag/* isTagOfRepository */.wQ)(tag, this.options.repository) || expiresAt === undefined)
                return [];
            return [
                {
                    id: key.id,
                    description: key.description,
                    expiresAt,
                    createdAt: (0,venice_api/* isoDate */._$)(key.createdAt) ?? null,
                    apiKeyType: 'INFERENCE',
                    tag,
                },
            ];
        });
    }
    /** DELETE /v1/keys/{id}: what the broker did, and what the key spent when it could read it. */
    async deleteKey(id) {
        const json = (await this.send('DELETE', `/v1/keys/${encodeURIComponent(id)}`, 'deleting the key'));
        const spent = json.spent;
        return {
            outcome: json.outcome === 'already-gone' ? 'already-gone' : 'deleted',
            spent: spent && typeof spent.usd === 'number' && typeof spent.diem === 'number' ? { usd: spent.usd, diem: spent.diem } : undefined,
        };
    }
    /** POST /v1/keys/unwrap: the run's key from its handle (the broker holds the handle's key). */
    async unwrap(handle) {
        const data = (await this.send('POST', '/v1/keys/unwrap', "opening the run's key-handle", { handle }));
        if ((0,venice_api/* isApiKey */.A)(data.apiKey))
            this.options.mask(data.apiKey);
        const tag = (0,description_tag/* parseTag */.ED)(typeof data.description === 'string' ? data.description : '');
        const expiresAt = (0,venice_api/* isoDate */._$)(data.expiresAt);
        if (!(0,ownership/* isKeyId */.rZ)(data.id) ||
            !(0,venice_api/* isApiKey */.A)(data.apiKey) ||
            tag?.scope !== 'run' ||
            tag.runId !== this.options.runId ||
            !(0,description_tag/* isTagOfRepository */.wQ)(tag, this.options.repository) ||
            !expiresAt) {
            throw new errors/* ActionFailure */.dR("the broker's answer is not this run's key (id, secret, tag or expiry); nothing from it is used.");
        }
        return { apiKey: data.apiKey, keyId: data.id, expiresAt, description: data.description, tag };
    }
    async send(method, path, doing, body, idempotencyKey) {
        const { deadline } = this.options;
        return (0,retry/* withRetries */.LH)(doing, async () => {
            const remaining = deadline.remainingMs();
            if (remaining <= 0)
                throw deadline.exceeded(doing);
            const token = await this.options.idToken();
            let response;
            try {
                response = await this.options.transport.send({
                    method,
                    url: new URL(this.options.brokerUrl + path),
                    headers: {
                        authorization: `Bearer ${token}`,
                        accept: 'application/json',
                        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
                        ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
                    },
                    body: body === undefined ? undefined : JSON.stringify(body),
                    timeoutMs: remaining,
                    signal: this.options.signal,
                });
            }
            catch (error) {
                // Every request is tried again, a mint too: a key a lost attempt made is the broker's to delete. A
                // refused connection too: a broker mid-deploy refuses for a moment. Should it last, the timeout's
                // message names broker-url.
                throw new BrokerError(`the broker did not answer while ${doing} (${(0,errors/* messageOf */.bD)(error)}).`, {
                    retryable: true,
                    summary: `no answer from broker-url ${this.options.brokerUrl} (${(0,errors/* messageOf */.bD)(error)}); check that broker-url is the broker's address and that it is running`,
                });
            }
            let json;
            try {
                json = JSON.parse(response.text);
            }
            catch { }
            if (response.status >= 200 && response.status < 300 && typeof json === 'object' && json !== null)
                return json;
            throw explain(response.status, json, doing, (0,venice_errors/* retryAfterMs */.Vs)(response.headers));
        }, { policy: this.options.policy, deadline, log: this.options.log, signal: this.options.signal });
    }
}
function explain(status, json, doing, retryAfter) {
    const error = json?.error;
    const reason = typeof error === 'string' && error !== '' ? (0,safe_text/* safeText */.Hk)(error.slice(0, 300)) : '';
    const said = reason ? ` The broker said: "${reason}".` : '';
    const summary = reason ? `HTTP ${status}, the broker said: "${reason}"` : `HTTP ${status}`;
    if (status === 401) {
        return new BrokerError(`the broker refused this job's OIDC token (401) while ${doing}.${said} Check that broker-audience equals the broker's oidc.audience, ` +
            "and, on GitHub Enterprise Server, that the broker's oidc.issuer is your server's.", { status });
    }
    if (status === 403)
        return new BrokerError(`the broker's policy refused ${doing} (403).${said}`, { status });
    if (status === 409) {
        // The same mint (its Idempotency-Key) is still in progress at the broker: wait, and ask again.
        return new BrokerError(`the broker is still working on this mint (409) while ${doing}.${said}`, {
            status,
            summary,
            retryable: true,
            rateLimited: true,
            waitReason: 'the broker is still minting this key (an earlier attempt)',
            retryAfterMs: retryAfter,
        });
    }
    if (status === 429) {
        return new BrokerError(`the broker's create queue is full (429) while ${doing}.${said}`, {
            status,
            summary,
            retryable: true,
            rateLimited: true,
            waitReason: "the broker's queue is full",
            retryAfterMs: retryAfter,
        });
    }
    if (status === 400 || status === 413)
        return new BrokerError(`the broker rejected the request while ${doing} (${status}).${said}`, { status });
    // 503: the broker is draining, its store or the issuer's keys are out of reach, Venice is failing or at
    // its active-key limit; nothing was made.
    if (status === 503)
        return new BrokerError(`the broker is not able to serve ${doing} right now (503).${said}`, {
            status,
            summary,
            retryable: true,
            retryAfterMs: retryAfter,
        });
    // A 502 the broker wrote (a JSON error) is Venice's refusal: final. A 5xx without one came from a load
    // balancer or proxy in front of it (a replica gone mid-request): another replica may answer.
    const fromBroker = typeof error === 'string';
    return new BrokerError(`${doing} through the broker failed with HTTP ${status}.${said}`, {
        status,
        summary,
        retryable: status >= 500 && !(status === 502 && fromBroker),
    });
}
/** Key ids from an answer: only those that look like Venice's. */
function idsOf(value) {
    return Array.isArray(value) ? value.filter((id) => (0,ownership/* isKeyId */.rZ)(id)).slice(0, 500) : [];
}
function amountOf(value) {
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

;// CONCATENATED MODULE: ./src/backends/broker/id-token.ts
/**
 * The job's OIDC token, asked of the runner as its documented protocol says: with `permissions:
 * id-token: write` the runner sets ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN, and
 * `GET <url>&audience=<aud>` with that bearer answers `{ "value": "<JWT>" }`. This is what
 * @actions/core's getIDToken does; it is written here (a dozen lines) so the step keeps its one
 * transport and its own environment, and so @actions/core, which the action no longer loads, stays out.
 */

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
async function requestIdToken(request) {
    const url = request.env.ACTIONS_ID_TOKEN_REQUEST_URL ?? '';
    const bearer = request.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN ?? '';
    if (url === '' || bearer === '') {
        throw new errors/* ActionFailure */.dR('broker-url is set, but the runner offers this job no OIDC token: add `permissions: id-token: write` to the job (or workflow). ' +
            'Runs for pull requests from forks, and Dependabot runs, never get one: skip the step for them with `if:`.');
    }
    request.mask(bearer);
    const target = new URL(url);
    target.searchParams.set('audience', request.audience);
    let answer;
    try {
        answer = await request.transport.send({
            method: 'GET',
            url: target,
            headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' },
            timeoutMs: request.timeoutMs,
            signal: request.signal,
        });
    }
    catch (error) {
        throw new errors/* ActionFailure */.dR(`the runner did not hand out an OIDC token (${(0,errors/* messageOf */.bD)(error)}); re-run the job.`);
    }
    let value;
    try {
        value = JSON.parse(answer.text).value;
    }
    catch { }
    if (answer.status !== 200 || typeof value !== 'string' || !JWT.test(value)) {
        throw new errors/* ActionFailure */.dR(`the runner answered ${answer.status} without an OIDC token. Check that the job has \`permissions: id-token: write\`; re-run the job if it has.`);
    }
    request.mask(value);
    return value;
}

;// CONCATENATED MODULE: ./src/backends/broker/broker-backend.ts





/** The broker backend for this step: each request carries a fresh OIDC token from the runner. */
function brokerBackend(connection) {
    const { io, brokerUrl } = connection;
    const broker = connectBroker(connection);
    // What the broker did to the slot's older keys at the mint (undefined: it could not).
    let rotated;
    return {
        via: ' through the broker',
        async mint({ config, pr, slot }) {
            // The broker reads the PR from the token; pr-number is sent only for a preview key (e.g. a closing run's).
            const preview = config.scope === 'pr';
            const fields = (0,key_request/* keyRequestFields */.mC)({ ...config, prNumber: preview ? pr : undefined, slot: preview ? slot || 'default' : '' });
            io.info(`Asking the broker at ${brokerUrl} for a ${config.scope} key.`);
            const key = await broker.mint(fields, { rotate: config.rotate });
            rotated = key.rotated;
            const { tag, handle, rule, clamped } = key;
            return {
                id: key.id,
                apiKey: key.apiKey,
                description: key.description,
                expiresAt: key.expiresAt,
                tag,
                handle,
                broker: { rule, clamped },
                // What the broker granted; the request's own where the answer did not say.
                granted: { ...config, ...key.granted },
                notes: [],
            };
        },
        async discard(key) {
            await broker.deleteKey(key.id);
            return { postMustWatch: false };
        },
        async rotateOlder() {
            if (rotated === undefined)
                throw new errors/* ActionFailure */.dR('the broker said its rotation failed');
            return rotated;
        },
        openHandle: (handle) => io.group("Open the run's key-handle through the broker", () => broker.unwrap(handle)),
        deleteKey: (id) => broker.deleteKey(id),
        deleteLeftovers: undefined,
        listOwned: () => broker.listKeys(),
        revokePr: (pr, dryRun) => io.group(`Delete the keys of PR #${pr} through the broker`, async () => {
            const result = await broker.revokePr(pr, dryRun);
            reportDeletions(io, result.keys, result.deleted.ids, dryRun);
            return result;
        }),
        async deleteOwned(keys, dryRun) {
            const { deleted } = await broker.sweep(keys, dryRun);
            reportDeletions(io, keys, deleted.ids, dryRun);
            return deleted;
        },
    };
}
function connectBroker(options) {
    const { io, transport, deadline, signal } = options;
    return new BrokerClient({
        brokerUrl: options.brokerUrl,
        transport,
        deadline,
        policy: options.policy,
        log: io.info,
        mask: io.setSecret,
        repository: options.context.repository,
        runId: options.context.runId,
        signal,
        idToken: () => requestIdToken({
            env: options.env,
            audience: options.audience,
            transport,
            timeoutMs: Math.max(1_000, Math.min(30_000, deadline.remainingMs())),
            signal,
            mask: io.setSecret,
        }),
    });
}
/**
 * What the broker did with the keys a revoke or sweep named, one line each as a direct deletion is
 * logged: deleted, kept by the broker (no longer this repository's to delete), or, in a dry run, to go.
 */
function reportDeletions(io, keys, deletedIds, dryRun) {
    for (const key of keys) {
        const verb = dryRun ? 'Would delete' : deletedIds.includes(key.id) ? 'Deleted' : 'The broker kept';
        io.info(`${verb} key ${key.id} ${(0,safe_text/* quoted */.TL)(key.description)}${dryRun ? ' (dry run)' : ''}.`);
    }
}


/***/ })

};
