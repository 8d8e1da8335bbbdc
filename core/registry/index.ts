/** The model registry on git tags (GTO's grammar). One file per operation. */
export { parseTag, formatTag, parseModelRef, isValidName, isValidStage, isValidVersion, compareVersions, bumpVersion } from './grammar.js';
export type { ParsedTag, TagAction, TagParts, ModelRef, Bump } from './grammar.js';
export { readRegistryTags, type RegistryTag } from './read.js';
export { replay, type RegistryState, type ModelState, type VersionState, type StageAssignment, type RegistryEvent } from './state.js';
export { registerModel, type RegisterOptions, type RegisterResult } from './register.js';
export { promoteModel, type PromoteOptions, type StageChangeResult } from './promote.js';
export { demoteModel, type DemoteOptions } from './demote.js';
export { deregisterModel, type DeregisterOptions } from './deregister.js';
export { deprecateModel, type DeprecateOptions } from './deprecate.js';
export { listModels, type ListOptions, type ModelList, type ModelSummary } from './list.js';
export { showModel, type ShowOptions, type ModelDetail } from './show.js';
export { resolveModelRef, type ResolveOptions, type ResolvedModel } from './resolve.js';
export type { GetRun } from './runs.js';
export { pushTags, type PushTagsOptions } from './push.js';
export { withRegistryLock } from './lock.js';
