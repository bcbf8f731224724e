// Runs once, when the mongo:7 container initialises an empty data volume (as the administrator
// MONGO_INITDB_ROOT_USERNAME): creates the services' user with readWrite on the s1c database
// only: no other database, no user or role administration, no server administration.
// To change the password later: db.getSiblingDB('admin').changeUserPassword(<user>, <password>).
const user = process.env.MONGO_USER || 's1c';
const password = process.env.MONGO_PASSWORD;
const database = process.env.S1C_DB_NAME || 'sonecollector';
if (!password) throw new Error('MONGO_PASSWORD is not set: the services would have no database user');
db.getSiblingDB('admin').createUser({ user, pwd: password, roles: [{ role: 'readWrite', db: database }] });
print(`created MongoDB user ${user} with readWrite on ${database}`);
