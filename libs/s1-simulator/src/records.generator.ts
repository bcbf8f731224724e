import { IdKind, type GroupInfo, type IdCodec, type SiteInfo } from './dataset.layout.js';
import { hash32, hexDigits, pick } from './hash.util.js';
import { formatMicros, formatSeconds, MICROS_PER_MS, MICROS_PER_SECOND, type Micros } from './timestamp.util.js';

/** What every record builder needs; all of it is fixed at start-up. */
export interface GeneratorContext {
  readonly seed: number;
  readonly ids: IdCodec;
  readonly sites: readonly SiteInfo[];
}

/** The agent a record refers to: derived from the agent's index alone. */
export interface AgentSummary {
  readonly index: number;
  readonly id: string;
  readonly uuid: string;
  readonly computerName: string;
  readonly osType: string;
  readonly osName: string;
  readonly agentVersion: string;
  readonly ipv4: string;
  readonly site: SiteInfo;
  readonly group: GroupInfo;
}

export type JsonRecord = Record<string, unknown>;

const Salt = { site: 1, group: 2, host: 3, os: 4, version: 5, ip: 6, uuid: 7, user: 8, type: 9, threatKind: 10, status: 11, hashes: 12, misc: 13 } as const;

const HOST_PREFIXES = ['DESKTOP', 'srv-web', 'Jörg-MacBook', 'ventas-portátil', '財務-PC', 'kasse', 'build-agent', 'Zoë’s-iMac', 'ДОМ-ПК', 'lab🧪'];
const OSES = [
  { osType: 'windows', osName: 'Windows 11 Pro', machineType: 'laptop', osRevision: '22631' },
  { osType: 'windows', osName: 'Windows Server 2022 Datacenter', machineType: 'server', osRevision: '20348' },
  { osType: 'macos', osName: 'macOS', machineType: 'laptop', osRevision: '14.4.1' },
  { osType: 'linux', osName: 'Linux Server', machineType: 'server', osRevision: '5.15.0-101' },
] as const;
const AGENT_VERSIONS = ['23.4.2.14', '23.3.3.264', '24.1.4.257', '22.1.2.7'];
const USERS = ['José Álvarez', 'Łukasz Wójcik', '山田太郎', 'Zoë Ørsted', 'Aïsha Ndiaye', 'admin'];
const NETWORK_STATUSES = ['connected', 'connected', 'connected', 'disconnected', 'connecting'];
const SCAN_STATUSES = ['finished', 'none', 'started', 'aborted'];

const THREAT_KINDS = [
  { name: 'default.exe', classification: 'Trojan', category: 'Evasion', description: 'Indirect command was executed', tactic: 'Defense Evasion', technique: 'T1202' },
  { name: 'invoice_2024_ñ.pdf.exe', classification: 'Malware', category: 'Persistence', description: 'Registry run key was modified', tactic: 'Persistence', technique: 'T1547.001' },
  { name: 'mimikatz.exe', classification: 'Hacktool', category: 'Exploitation', description: 'Credential dumping from LSASS', tactic: 'Credential Access', technique: 'T1003.001' },
  { name: 'ransom_ключ.dll', classification: 'Ransomware', category: 'Injection', description: 'Process hollowing detected', tactic: 'Defense Evasion', technique: 'T1055.012' },
  { name: 'coinminer', classification: 'PUA', category: 'General', description: 'Suspicious CPU usage by a hidden process', tactic: 'Impact', technique: 'T1496' },
] as const;
const INCIDENT_STATUSES = ['unresolved', 'in_progress', 'resolved'] as const;
const VERDICTS = ['undefined', 'suspicious', 'true_positive', 'false_positive'] as const;
const CONFIDENCE = ['malicious', 'suspicious'] as const;

/** Activity types with the description templates S1 renders into primaryDescription. */
export interface ActivityType {
  readonly id: number;
  readonly kind: 'user' | 'threat' | 'agent';
  /** Renders primaryDescription from the subject (user or computer) and the file name. */
  readonly text: (subject: string, file: string) => string;
}

export const ACTIVITY_TYPES: readonly ActivityType[] = [
  { id: 27, kind: 'user', text: (u) => `The management user ${u} logged in to the management console.` },
  { id: 33, kind: 'user', text: (u) => `The management user ${u} logged out of the management console.` },
  { id: 133, kind: 'user', text: (u) => `The management user ${u} failed to log in to the management console.` },
  { id: 18, kind: 'threat', text: (c, f) => `Threat ${f} on ${c} was mitigated.` },
  { id: 19, kind: 'threat', text: (c, f) => `Malicious threat ${f} on ${c} was not mitigated.` },
  { id: 4003, kind: 'threat', text: (c, f) => `Suspicious threat ${f} on ${c} was not mitigated.` },
  { id: 2001, kind: 'threat', text: (c, f) => `The agent ${c} successfully killed the threat: ${f}.` },
  { id: 86, kind: 'threat', text: (c, f) => `Threat file ${f} was uploaded from ${c}.` },
  { id: 3608, kind: 'agent', text: (c) => `Agent ${c} connected to the management console.` },
  { id: 5040, kind: 'user', text: (u) => `The management user ${u} created an account ✔.` },
];

/** Global site index of an agent. */
export function agentSiteIndex(ctx: GeneratorContext, index: number): number {
  return hash32(ctx.seed, Salt.site, index) % ctx.sites.length;
}

export function agentSummary(ctx: GeneratorContext, index: number): AgentSummary {
  const site = pick(ctx.sites, hash32(ctx.seed, Salt.site, index));
  const os = pick(OSES, hash32(ctx.seed, Salt.os, index));
  const ip = hash32(ctx.seed, Salt.ip, index);
  return {
    index,
    id: ctx.ids.encode(IdKind.agent, index),
    uuid: hexDigits(ctx.seed, Salt.uuid, index, 32),
    computerName: `${pick(HOST_PREFIXES, hash32(ctx.seed, Salt.host, index))}-${index}`,
    osType: os.osType,
    osName: os.osName,
    agentVersion: pick(AGENT_VERSIONS, hash32(ctx.seed, Salt.version, index)),
    ipv4: `10.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${(ip & 254) + 1}`,
    site,
    group: pick(site.groups, hash32(ctx.seed, Salt.group, index)),
  };
}

export function buildActivity(
  ctx: GeneratorContext,
  index: number,
  createdAt: Micros,
  agent: AgentSummary | undefined,
  site: SiteInfo,
  threatCount: number,
): JsonRecord {
  const h = hash32(ctx.seed, Salt.type, index);
  const type = activityTypeOf(ctx, index);
  const user = pick(USERS, hash32(ctx.seed, Salt.user, index));
  const kind = pick(THREAT_KINDS, h >>> 4);
  const onAgent = type.kind !== 'user' && agent !== undefined;
  const threatIndex = type.kind === 'threat' && threatCount > 0 ? (h >>> 8) % threatCount : undefined;
  const computer = agent?.computerName ?? 'unknown';
  const group = agent?.group ?? pick(site.groups, h);
  const primaryDescription = type.text(type.kind === 'user' ? user : computer, kind.name);
  return {
    accountId: site.accountId,
    accountName: site.accountName,
    activityType: type.id,
    activityUuid: uuidOf(ctx, Salt.misc, index),
    agentId: onAgent ? agent.id : null,
    agentUpdatedVersion: null,
    comments: null,
    createdAt: formatMicros(createdAt),
    data: {
      accountName: site.accountName,
      computerName: onAgent ? computer : null,
      fileDisplayName: type.kind === 'threat' ? kind.name : null,
      filePath: type.kind === 'threat' ? `C:\\Users\\${user}\\Downloads\\${kind.name}` : null,
      fullScopeDetails: `Group ${group.name} in Site ${site.name} of Account ${site.accountName}`,
      siteName: site.name,
      threatClassification: type.kind === 'threat' ? kind.classification : null,
      username: type.kind === 'user' ? user : null,
    },
    description: null,
    groupId: group.id,
    groupName: group.name,
    hash: null,
    id: ctx.ids.encode(IdKind.activity, index),
    osFamily: onAgent ? agent.osType : null,
    primaryDescription,
    secondaryDescription: type.kind === 'threat' ? `/test/path/${kind.name}` : null,
    siteId: site.id,
    siteName: site.name,
    threatId: threatIndex === undefined ? null : ctx.ids.encode(IdKind.threat, threatIndex),
    // S1 quirk: updatedAt is sometimes a little earlier than createdAt.
    updatedAt: formatMicros(h % 5 === 0 ? createdAt - (h % 50_000) : createdAt),
    userId: type.kind === 'user' ? ctx.ids.encode(IdKind.user, hash32(ctx.seed, Salt.user, index) % USERS.length) : null,
  };
}

export function activityTypeOf(ctx: GeneratorContext, index: number): ActivityType {
  return pick(ACTIVITY_TYPES, hash32(ctx.seed, Salt.type, index));
}

export function buildAgent(ctx: GeneratorContext, agent: AgentSummary, createdAt: Micros, updatedAt: Micros, version: number): JsonRecord {
  const h = hash32(ctx.seed, Salt.status, agent.index);
  const os = OSES.find((o) => o.osName === agent.osName) ?? OSES[0];
  const activeThreats = (h + version) % 4 === 0 ? (h % 7) + 1 : 0;
  return {
    accountId: agent.site.accountId,
    accountName: agent.site.accountName,
    activeThreats,
    agentVersion: agent.agentVersion,
    computerName: agent.computerName,
    createdAt: formatMicros(createdAt),
    domain: h % 3 === 0 ? 'WORKGROUP' : 'corp.example',
    externalIp: `203.0.113.${(h % 250) + 1}`,
    groupId: agent.group.id,
    groupName: agent.group.name,
    id: agent.id,
    infected: activeThreats > 0,
    isActive: (h + version) % 5 !== 0,
    isDecommissioned: false,
    isUninstalled: false,
    lastActiveDate: formatMicros(updatedAt),
    lastIpToMgmt: agent.ipv4,
    machineType: os.machineType,
    mitigationMode: h % 4 === 0 ? 'detect' : 'protect',
    networkInterfaces: [
      { id: ctx.ids.encode(IdKind.misc, agent.index), inet: [agent.ipv4], inet6: [`fe80::${(h & 0xffff).toString(16)}`], name: 'Ethernet', physical: macOf(h) },
    ],
    networkStatus: pick(NETWORK_STATUSES, h + version),
    osArch: '64 bit',
    osName: agent.osName,
    osRevision: os.osRevision,
    osStartTime: formatSeconds(updatedAt - (h % 86_400) * MICROS_PER_SECOND),
    osType: agent.osType,
    registeredAt: formatMicros(createdAt),
    scanStatus: pick(SCAN_STATUSES, h + version),
    siteId: agent.site.id,
    siteName: agent.site.name,
    tags: { sentinelone: [] },
    updatedAt: formatMicros(updatedAt),
    userActionsNeeded: (h + version) % 6 === 0 ? ['reboot_needed'] : [],
    uuid: agent.uuid,
  };
}

export function buildThreat(
  ctx: GeneratorContext,
  index: number,
  createdAt: Micros,
  updatedAt: Micros,
  version: number,
  agent: AgentSummary | undefined,
  site: SiteInfo,
): JsonRecord {
  const h = hash32(ctx.seed, Salt.threatKind, index);
  const kind = pick(THREAT_KINDS, h);
  const id = ctx.ids.encode(IdKind.threat, index);
  // History starts at a random stage; every update moves the threat one stage on.
  const stage = Math.min(INCIDENT_STATUSES.length - 1, (h % 2) + version);
  const mitigated = stage > 0 || h % 3 === 0;
  const sha1 = hexDigits(ctx.seed, Salt.hashes, index, 40);
  const identifiedAt = Math.floor(createdAt / MICROS_PER_MS) * MICROS_PER_MS - (h % 900) * MICROS_PER_MS;
  const groupId = agent?.group.id ?? pick(site.groups, h).id;
  return {
    agentDetectionInfo: {
      accountId: site.accountId,
      accountName: site.accountName,
      agentDomain: 'corp.example',
      agentIpV4: agent?.ipv4 ?? null,
      agentOsName: agent?.osName ?? null,
      agentUuid: agent?.uuid ?? null,
      agentVersion: agent?.agentVersion ?? null,
      groupId,
      siteId: site.id,
      siteName: site.name,
    },
    agentRealtimeInfo: {
      accountId: site.accountId,
      accountName: site.accountName,
      activeThreats: stage === 2 ? 0 : (h % 5) + 1,
      agentComputerName: agent?.computerName ?? null,
      agentId: agent?.id ?? null,
      agentIsActive: true,
      agentMitigationMode: h % 4 === 0 ? 'detect' : 'protect',
      agentOsName: agent?.osName ?? null,
      agentOsType: agent?.osType ?? null,
      agentUuid: agent?.uuid ?? null,
      agentVersion: agent?.agentVersion ?? null,
      groupId,
      siteId: site.id,
      siteName: site.name,
    },
    containerInfo: { id: null, image: null, labels: null, name: null },
    id,
    indicators: [
      {
        category: kind.category,
        description: kind.description,
        ids: [400 + (h % 100)],
        tactics: [{ name: kind.tactic, source: 'MITRE', techniques: [{ link: `https://attack.mitre.org/techniques/${kind.technique.replace('.', '/')}/`, name: kind.technique }] }],
      },
    ],
    kubernetesInfo: { cluster: null, namespace: null, pod: null },
    mitigationStatus: mitigated
      ? [
          {
            action: 'kill',
            actionsCounters: { failed: 0, notFound: 0, pendingReboot: 0, success: 1, total: 1 },
            agentSupportsReport: true,
            groupNotFound: false,
            lastUpdate: formatMicros(updatedAt),
            latestReport: null,
            mitigationEndedAt: formatMicros(createdAt + 2 * MICROS_PER_SECOND),
            mitigationStartedAt: formatMicros(createdAt + MICROS_PER_SECOND),
            status: 'success',
          },
        ]
      : [],
    threatInfo: {
      analystVerdict: version === 0 ? 'undefined' : pick(VERDICTS, h + version),
      automaticallyResolved: false,
      classification: kind.classification,
      classificationSource: 'Cloud',
      collectionId: ctx.ids.encode(IdKind.misc, 1_000_000_000 + index),
      confidenceLevel: pick(CONFIDENCE, h >>> 3),
      createdAt: formatMicros(createdAt),
      detectionType: h % 2 === 0 ? 'static' : 'dynamic',
      engines: h % 2 === 0 ? ['SentinelOne Cloud'] : ['On-Write DFI', 'Behavioral AI'],
      fileExtension: kind.name.split('.').pop() ?? null,
      filePath: `\\Device\\HarddiskVolume3\\Users\\Público\\${kind.name}`,
      fileSize: 1024 + (h % 5_000_000),
      identifiedAt: formatMicros(identifiedAt),
      incidentStatus: INCIDENT_STATUSES[stage],
      initiatedBy: 'agent_policy',
      md5: null,
      mitigationStatus: mitigated ? 'mitigated' : 'not_mitigated',
      originatorProcess: h % 3 === 0 ? 'explorer.exe' : 'powershell.exe',
      processUser: agent ? `${agent.computerName}\\usuário` : null,
      sha1,
      sha256: h % 4 === 0 ? hexDigits(ctx.seed, Salt.hashes + 50, index, 64) : null,
      storyline: hexDigits(ctx.seed, Salt.misc + 60, index, 16).toUpperCase(),
      threatId: id,
      threatName: kind.name,
      updatedAt: formatMicros(updatedAt),
    },
    whiteningOptions: ['hash', 'path'],
  };
}

const ALERT_RULES = [
  { name: 'PowerShell encoded command', severity: 'High', eventType: 'PROCESSCREATION', s1ql: 'TgtProcCmdLine contains "-enc"', treatAsThreat: 'Suspicious' },
  { name: 'Réseau: connexion sortante rare', severity: 'Medium', eventType: 'IP', s1ql: 'DstPort in (4444, 1337)', treatAsThreat: 'UNDEFINED' },
  { name: 'Registry Run key (永続化)', severity: 'Critical', eventType: 'REGVALUEMODIFIED', s1ql: 'RegistryKeyPath contains "CurrentVersion\\Run"', treatAsThreat: 'Malicious' },
  { name: 'Login outside office hours', severity: 'Low', eventType: 'LOGIN', s1ql: 'EventType = "Login"', treatAsThreat: 'UNDEFINED' },
] as const;
const ALERT_STATUSES = ['Unresolved', 'In progress', 'Resolved'] as const;

/**
 * A cloud-detection alert (`/cloud-detection/alerts`): the shape Elastic's and Sentinel's
 * collectors read, with the id and the dates inside `alertInfo` and the custom rule that fired in
 * `ruleInfo`.
 */
export function buildAlert(ctx: GeneratorContext, index: number, createdAt: Micros, agent: AgentSummary | undefined, site: SiteInfo): JsonRecord {
  const h = hash32(ctx.seed, Salt.misc + 70, index);
  const rule = pick(ALERT_RULES, h);
  const ruleIndex = h % ALERT_RULES.length;
  const ruleId = ctx.ids.encode(IdKind.misc, 2_000_000_000 + ruleIndex);
  const reportedAt = createdAt + (h % 400_000);
  return {
    agentDetectionInfo: {
      accountId: site.accountId,
      machineType: agent ? (agent.osType === 'linux' ? 'server' : 'laptop') : null,
      name: agent?.computerName ?? null,
      osFamily: agent?.osType ?? null,
      osName: agent?.osName ?? null,
      siteId: site.id,
      uuid: agent?.uuid ?? null,
      version: agent?.agentVersion ?? null,
    },
    agentRealtimeInfo: { id: agent?.id ?? null, infected: h % 3 === 0, isActive: true, isDecommissioned: false, name: agent?.computerName ?? null, os: agent?.osType ?? null, uuid: agent?.uuid ?? null },
    alertInfo: {
      alertId: ctx.ids.encode(IdKind.alert, index),
      analystVerdict: 'Undefined',
      createdAt: formatMicros(createdAt),
      dnsRequest: rule.eventType === 'IP' ? 'c2.example.net' : null,
      dstIp: rule.eventType === 'IP' ? `198.51.100.${(h % 250) + 1}` : null,
      dstPort: rule.eventType === 'IP' ? String(4444 + (h % 2) * -3107) : null,
      dvEventId: `01J${hexDigits(ctx.seed, Salt.misc + 71, index, 23).toUpperCase()}_${h % 200}`,
      eventType: rule.eventType,
      hitType: 'Events',
      incidentStatus: pick(ALERT_STATUSES, h >>> 5),
      isEdr: true,
      registryKeyPath: rule.eventType === 'REGVALUEMODIFIED' ? 'HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run' : null,
      reportedAt: formatMicros(reportedAt),
      source: 'STAR',
      srcIp: agent?.ipv4 ?? null,
      updatedAt: formatMicros(reportedAt),
    },
    containerInfo: { id: null, image: null, labels: null, name: null },
    kubernetesInfo: { cluster: null, namespace: null, node: null, pod: null },
    ruleInfo: {
      description: null,
      id: ruleId,
      name: rule.name,
      queryLang: '2.0',
      queryType: 'events',
      s1ql: rule.s1ql,
      scopeLevel: 'site',
      severity: rule.severity,
      treatAsThreat: rule.treatAsThreat,
    },
    sourceProcessInfo: {
      commandline: rule.eventType === 'PROCESSCREATION' ? 'powershell.exe -enc SQBFAFgA' : null,
      fileHashSha1: hexDigits(ctx.seed, Salt.hashes + 70, index, 40),
      filePath: 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe',
      name: 'powershell.exe',
      pid: String(1000 + (h % 60_000)),
      storyline: hexDigits(ctx.seed, Salt.misc + 72, index, 16).toUpperCase(),
      user: agent ? `${agent.computerName}\\usuário` : null,
    },
  };
}

const GROUP_TYPES = ['static', 'dynamic', 'pinned'] as const;

/** A group (`/groups`): one of the layout's, two per site; each update changes its agent count and rank. */
export function buildGroup(ctx: GeneratorContext, index: number, site: SiteInfo, createdAt: Micros, updatedAt: Micros, version: number): JsonRecord {
  const group = site.groups[index & 1]!;
  const h = hash32(ctx.seed, Salt.group + 70, index);
  return {
    createdAt: formatMicros(createdAt),
    creator: pick(USERS, h),
    creatorId: ctx.ids.encode(IdKind.user, h % USERS.length),
    filterId: null,
    filterName: null,
    id: group.id,
    inherits: index % 2 === 0,
    isDefault: index % 2 === 0,
    name: group.name,
    rank: index % 2 === 0 ? null : 1 + ((h + version) % 10),
    registrationToken: null,
    siteId: site.id,
    totalAgents: (h % 500) + version * 3,
    type: index % 2 === 0 ? 'static' : pick(GROUP_TYPES, h + version),
    updatedAt: formatMicros(updatedAt),
  };
}

function uuidOf(ctx: GeneratorContext, salt: number, index: number): string {
  const hex = hexDigits(ctx.seed, salt, index, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function macOf(h: number): string {
  return `00-50-56-${((h >>> 16) & 255).toString(16).padStart(2, '0')}-${((h >>> 8) & 255).toString(16).padStart(2, '0')}-${(h & 255).toString(16).padStart(2, '0')}`.toUpperCase();
}
