// Hands the backup layer's hot backup and db_archive listing to the environment: env.hotBackup()
// and env.archive() call them (env/backupport.ts; env sits below backup and does not import it).
// src/index.ts imports this module, so the package's Environment always has them.

import { provideBackup } from '../env/backupport.js';
import { archive } from './archive.js';
import { hotBackup } from './hotbackup.js';

provideBackup({ hotBackup, archive });
