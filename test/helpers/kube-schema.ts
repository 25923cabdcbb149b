// Checks a Kubernetes object the way the API server would before it stores it: the OpenAPI schema
// (kubernetes-models: types, required fields, formats such as quantities) and, since kubectl asks for
// strict field validation, no field the schema does not name (a `readinesProbe` typo is an error).
// The second check walks @kubernetes/client-node's models, which carry every field of every type.
import * as kubeClient from '@kubernetes/client-node';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as coreV1 from 'kubernetes-models/v1';

type Validate = (obj: object) => void;

/** kubernetes-models' check for one model: throws naming every field the schema rejects. */
const schema =
  <T>(Model: new (data: T) => { validate(): void }): Validate =>
  (obj) =>
    new Model(obj as T).validate();

/** The built-in kinds deploy/ uses, by `apiVersion/kind`, with the client model naming their fields. */
const KINDS: Record<string, { validate: Validate; fields: string }> = {
  'v1/Namespace': { validate: schema(coreV1.Namespace), fields: 'V1Namespace' },
  'v1/ServiceAccount': { validate: schema(coreV1.ServiceAccount), fields: 'V1ServiceAccount' },
  'v1/Service': { validate: schema(coreV1.Service), fields: 'V1Service' },
  'apps/v1/Deployment': { validate: schema(appsV1.Deployment), fields: 'V1Deployment' },
  'rbac.authorization.k8s.io/v1/ClusterRole': {
    validate: schema(rbacV1.ClusterRole),
    fields: 'V1ClusterRole',
  },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {
    validate: schema(rbacV1.ClusterRoleBinding),
    fields: 'V1ClusterRoleBinding',
  },
  'rbac.authorization.k8s.io/v1/Role': { validate: schema(rbacV1.Role), fields: 'V1Role' },
  'rbac.authorization.k8s.io/v1/RoleBinding': {
    validate: schema(rbacV1.RoleBinding),
    fields: 'V1RoleBinding',
  },
};

interface Attribute {
  baseName: string;
  type: string;
}
interface FieldModel {
  getAttributeTypeMap(): Attribute[];
}

const fieldModels = kubeClient as unknown as Record<string, FieldModel | undefined>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Paths of the fields under `value` that its type does not have. Types without a model (strings,
 * numbers, IntOrString, free-form objects) end the walk. */
function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  const item = /^Array<(.+)>$/.exec(type)?.[1];
  if (item !== undefined) {
    if (Array.isArray(value))
      for (const [i, v] of value.entries()) unknownFields(v, item, `${path}[${i}]`, out);
    return;
  }
  const entry = /^\{ \[key: string\]: (.+); \}$/.exec(type)?.[1];
  if (entry !== undefined) {
    if (isRecord(value))
      for (const [k, v] of Object.entries(value)) unknownFields(v, entry, `${path}.${k}`, out);
    return;
  }
  const model = fieldModels[type];
  if (model?.getAttributeTypeMap === undefined || !isRecord(value)) return;
  const known = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, v] of Object.entries(value)) {
    const t = known.get(key);
    if (t === undefined) out.push(`${path}.${key}: unknown field`);
    else unknownFields(v, t, `${path}.${key}`, out);
  }
}

/** Whether deploy/'s checks know this kind (CRDs such as ServiceEntry are checked elsewhere). */
export function isBuiltInKind(apiVersion: string, kind: string): boolean {
  return `${apiVersion}/${kind}` in KINDS;
}

/** What the API server would reject in `obj`, one line each; [] when it is valid. */
export function kubeSchemaErrors(obj: Record<string, unknown>): string[] {
  const rule = KINDS[`${String(obj.apiVersion)}/${String(obj.kind)}`];
  if (rule === undefined)
    return [`apiVersion ${obj.apiVersion} kind ${obj.kind}: not a kind deploy/ expects`];
  const errors: string[] = [];
  try {
    rule.validate(obj);
  } catch (err) {
    errors.push(...(err as Error).message.split(', '));
  }
  unknownFields(obj, rule.fields, '', errors);
  return errors;
}
